"""`gatewayd run` processes for the reliability tests: started, killed and restarted at will."""

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import trio

from tests.daemon.conftest import NotifyListener, child_environment, free_port, gatewayd_command

KEY = "burst-key-0123456789"
WINDOW = 10
BINDS = 2


class Node:
    """One `gatewayd run` process with its own directory, ports and node id.

    Standard error goes to a file: a pipe nobody reads during a burst would fill up and
    stall the daemon. The notify socket outlives restarts, so READY can be awaited again.
    """

    def __init__(self, directory: Path, config_text: str, http_port: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.config_path = directory / "gatewayd.yaml"
        self.config_path.write_text(config_text)
        self.log_path = directory / "gatewayd.log"
        self.url = f"http://127.0.0.1:{http_port}"
        self.notify = NotifyListener(directory)
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        """Start the process and return once it has said READY=1."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                gatewayd_command("run", "--config", str(self.config_path)),
                env=child_environment(NOTIFY_SOCKET=self.notify.path),
                cwd=self.directory,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.notify.process = self.process  # type: ignore[assignment]
        try:
            await trio.to_thread.run_sync(self.notify.wait_for, "READY=1")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log_tail()}") from None

    async def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        assert self.process is not None
        self.process.kill()
        await trio.to_thread.run_sync(self.process.wait)

    async def terminate(self, timeout_s: float = 15) -> int:
        """SIGTERM; the exit status once the process has stopped by itself."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await trio.to_thread.run_sync(self.process.wait, timeout_s)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.notify.close()


MakeNode = Callable[..., Node]
"""make_node(node_id, database_url, smsc_port, workers=0) -> a Node, not started."""


LEASE_S = 45
"""Claims of a node killed with SIGKILL last this long: shorter than the default 120 s (the
shortest the carrier's response timeout allows), so a test need not wait that long."""


def node_config(
    node_id: str, database_url: str, http_port: int, smsc_port: int, workers: int = 0
) -> str:
    """One carrier (the test's simulator, `BINDS` binds of `WINDOW`), one application.

    The system_id is the node id, so `simulator.submitted` tells which node submitted what;
    the simulator accepts any system_id and, like an SMSC for the binds of one account,
    hands a receipt to any bound receiver when the submitting bind is gone. `workers`: HTTP
    worker processes serving the Message API (0: the daemon itself).
    """
    return f"""
node_id: {node_id}
database: {{url: "{database_url}", claim_lease_s: {LEASE_S}}}
http: {{listen: ["127.0.0.1:{http_port}"], workers: {workers}}}
admin: {{listen: ["127.0.0.1:{free_port()}"]}}
carriers:
  - name: smsc
    host: 127.0.0.1
    port: {smsc_port}
    system_id: {node_id}
    binds: {BINDS}
    window: {WINDOW}
    reconnect_min_s: 0.1
    reconnect_max_s: 0.5
accounts:
  - name: acme
    applications:
      - {{name: shop, api_keys: ["{KEY}"]}}
"""
