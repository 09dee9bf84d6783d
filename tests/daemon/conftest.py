"""Running the real `gatewayd` command in a subprocess."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def gatewayd_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gatewayd", *args]


def child_environment(**extra: str) -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(ROOT) + os.pathsep + environment.get("PYTHONPATH", "")
    environment.pop("NOTIFY_SOCKET", None)
    environment.update(extra)
    return environment


@pytest.fixture
def run_cli():
    def run(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            gatewayd_command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=child_environment(**env),
            cwd=ROOT,
        )

    return run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NotifyListener:
    """A real NOTIFY_SOCKET: the datagram socket systemd would give the daemon."""

    process: subprocess.Popen[str] | None = None

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "notify.sock")
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.path)
        self.received: list[str] = []

    def wait_for(self, field: str, timeout: float = 20.0) -> list[str]:
        """Every message up to and including the first one containing `field`."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {field} from the daemon within {timeout}s: {seen}")
            if self.process is not None and self.process.poll() is not None and not self._pending():
                _, stderr = self.process.communicate()
                raise AssertionError(f"the daemon exited before {field}: {stderr}")
            self.socket.settimeout(min(remaining, 0.25))
            try:
                message = self.socket.recv(4096).decode()
            except TimeoutError:
                continue
            self.received.append(message)
            seen.append(message)
            if field in message.split("\n"):
                return seen

    def _pending(self) -> bool:
        self.socket.setblocking(False)
        try:
            self.socket.recv(1, socket.MSG_PEEK)
            return True
        except BlockingIOError:
            return False
        finally:
            self.socket.setblocking(True)

    def close(self) -> None:
        self.socket.close()


class Daemon:
    """`gatewayd run` in a subprocess with its own config, database and ports."""

    def __init__(self, directory: Path, config_text: str) -> None:
        self.directory = directory
        self.config_path = directory / "gatewayd.yaml"
        self.config_path.write_text(config_text)
        self.notify = NotifyListener(directory)
        self.process: subprocess.Popen[str] | None = None

    def start(self, **env: str) -> "Daemon":
        self.process = subprocess.Popen(
            gatewayd_command("run", "--config", str(self.config_path)),
            env=child_environment(NOTIFY_SOCKET=self.notify.path, **env),
            cwd=self.directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.notify.process = self.process
        return self

    def wait_ready(self) -> None:
        self.notify.wait_for("READY=1")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 5.0) -> tuple[int, str]:
        """SIGTERM, then the exit status and standard error (within `timeout` seconds)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stderr

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        self.notify.close()


def daemon_config(directory: Path, http_port: int, admin_port: int, extra: str = "") -> str:
    return f"""
database: {{url: "sqlite:///{directory}/gatewayd.db"}}
http: {{listen: ["127.0.0.1:{http_port}"]}}
admin: {{listen: ["127.0.0.1:{admin_port}"], token: test-admin-token}}
accounts:
  - name: acme
    applications:
      - {{name: shop, api_keys: ["shop-key-0123456789"]}}
{extra}"""


@pytest.fixture
def daemon(tmp_path):
    """Factory: daemon(extra_yaml="") -> a started Daemon on free ports, stopped afterwards."""
    started: list[Daemon] = []

    def make(extra: str = "", **env: str) -> Daemon:
        http_port, admin_port = free_port(), free_port()
        instance = Daemon(tmp_path, daemon_config(tmp_path, http_port, admin_port, extra))
        instance.http_port, instance.admin_port = http_port, admin_port
        started.append(instance.start(**env))
        return instance

    yield make
    for instance in started:
        instance.close()
