"""The unit file: systemd's own verifier accepts it, and it carries what the README promises."""

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.daemon.conftest import ROOT, NotifyListener, free_port

UNIT = ROOT / "systemd" / "gatewayd.service"


def unit_settings() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_the_unit_is_notify_with_watchdog_reload_and_hardening():
    service = unit_settings()["Service"]
    expected = {
        "Type": ["notify"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"],
        "Restart": ["on-failure"],
        "User": ["gatewayd"],
        "StateDirectory": ["gatewayd"],
        "ConfigurationDirectory": ["gatewayd"],
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "CapabilityBoundingSet": [""],
    }
    for key, value in expected.items():
        assert service.get(key) == value, key
    assert "WatchdogSec" in service


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    executable = tmp_path / "gatewayd"
    executable.write_text("#!/bin/sh\nexit 0\n")
    executable.chmod(0o755)
    unit = tmp_path / "gatewayd.service"
    unit.write_text(UNIT.read_text().replace("/opt/gatewayd/bin/gatewayd", str(executable)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in result.stderr.splitlines()
        if ("gatewayd.service" in line and "Unknown" in line)
        or "is not executable" in line
        or "Failed" in line
    ]
    assert result.returncode == 0 and not problems, result.stderr


# --- The install path of README.md, "Running under systemd", as the unit runs it -----------

EXAMPLE = ROOT / "config" / "gatewayd.example.yaml"
SECRETS_TEMPLATE = ROOT / "config" / "secrets.env.example"
INSTALLED_EXECUTABLE = "/opt/gatewayd/bin/gatewayd"
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"


def read_environment_file(path: Path) -> dict[str, str]:
    """NAME=value lines as systemd reads an EnvironmentFile= (comments: # and ;)."""
    variables = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        variables[name.strip()] = value
    return variables


class InstalledUnit:
    """The unit's files under a temporary root: /etc/gatewayd, /var/lib/gatewayd and the
    installed executable are redirected; everything else is the unit's own words."""

    def __init__(self, root: Path) -> None:
        self.etc = root / "etc" / "gatewayd"
        self.state = root / "var" / "lib" / "gatewayd"
        self.etc.mkdir(parents=True)
        self.state.mkdir(parents=True)
        self.executable = Path(sys.executable).with_name("gatewayd")
        self.service = unit_settings()["Service"]

    def redirect(self, text: str) -> str:
        return (
            text.replace(INSTALLED_EXECUTABLE, str(self.executable))
            .replace("/etc/gatewayd", str(self.etc))
            .replace("/var/lib/gatewayd", str(self.state))
        )

    def command(self, key: str) -> list[str]:
        (line,) = self.service[key]
        return shlex.split(self.redirect(line))

    def environment(self, notify_socket: str) -> dict[str, str]:
        """What systemd gives the service: its own variables, then Environment= and
        EnvironmentFile=, in the unit's order. Nothing of this test's own environment."""
        environment = {
            "PATH": SYSTEMD_PATH,
            "HOME": str(self.state),
            "USER": self.service["User"][0],
            "LOGNAME": self.service["User"][0],
            "SHELL": "/usr/sbin/nologin",
            "INVOCATION_ID": "0" * 32,
            "NOTIFY_SOCKET": notify_socket,
            "WATCHDOG_USEC": str(int(self.service["WatchdogSec"][0].rstrip("s")) * 1_000_000),
            "STATE_DIRECTORY": str(self.state),
            "CONFIGURATION_DIRECTORY": str(self.etc),
        }
        for line in self.service.get("Environment", []):
            for assignment in shlex.split(line):
                name, _, value = assignment.partition("=")
                environment[name] = value
        for line in self.service.get("EnvironmentFile", []):
            optional = line.startswith("-")
            path = Path(self.redirect(line.removeprefix("-")))
            if path.exists() or not optional:
                environment.update(read_environment_file(path))
        return environment

    def run(self, key: str, notify_socket: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(key),
            env=self.environment(notify_socket),
            cwd=self.redirect(self.service["WorkingDirectory"][0]),
            capture_output=True,
            text=True,
            timeout=60,
        )


def install_example(unit: InstalledUnit, ports: dict[int, int]) -> None:
    """README's steps: the example configuration, its secrets file filled in; the listen
    ports moved to free ones, the paths under the temporary root."""
    text = unit.redirect(EXAMPLE.read_text())
    for default, port in ports.items():
        text = text.replace(f'127.0.0.1:{default}"', f'127.0.0.1:{port}"')
        text = text.replace(f'0.0.0.0:{default}"', f'127.0.0.1:{port}"')
    (unit.etc / "gatewayd.yaml").write_text(text)
    secrets = [
        f"{line}filled-in-{line[:-1].lower()}" if line.endswith("=") else line
        for line in SECRETS_TEMPLATE.read_text().splitlines()
    ]
    (unit.etc / "secrets.env").write_text("\n".join(secrets) + "\n")
    (unit.etc / "secrets.env").chmod(0o600)


def yaml_of(path: Path):
    return yaml.safe_load(path.read_text())


def test_the_secrets_template_names_exactly_what_the_example_configuration_needs():
    needed = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", json.dumps(yaml_of(EXAMPLE))))
    assert len(needed) == 5, needed
    assert set(read_environment_file(SECRETS_TEMPLATE)) == needed
    (environment_file,) = unit_settings()["Service"]["EnvironmentFile"]
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Running under systemd") :]
    section = section[: section.index("\n## ", 3)]
    assert f"config/secrets.env.example {environment_file}" in section
    assert "-m 0600" in section.split("secrets.env.example")[0].splitlines()[-1]


@pytest.mark.skipif(not Path(sys.executable).with_name("gatewayd").exists(), reason="not installed")
def test_an_unfilled_secrets_file_is_refused_by_check_config_naming_each_variable(tmp_path):
    unit = InstalledUnit(tmp_path)
    install_example(unit, {})
    shutil.copy(SECRETS_TEMPLATE, unit.etc / "secrets.env")
    check = unit.run("ExecStartPre")
    assert check.returncode == 1
    for name in read_environment_file(SECRETS_TEMPLATE):
        assert f"environment variable {name} is empty" in check.stderr, name
    assert "Traceback" not in check.stderr


@pytest.mark.skipif(not Path(sys.executable).with_name("gatewayd").exists(), reason="not installed")
def test_the_unit_starts_the_example_configuration_with_only_its_own_environment(tmp_path):
    unit = InstalledUnit(tmp_path)
    ports = {default: free_port() for default in (8080, 8081, 2525, 2775)}
    install_example(unit, ports)
    check = unit.run("ExecStartPre")
    assert check.returncode == 0, check.stderr
    assert "ok (1 accounts, 3 applications, 2 carriers, 2 routes)" in check.stdout
    notify = NotifyListener(tmp_path)
    environment = unit.environment(notify.path)
    process = subprocess.Popen(
        unit.command("ExecStart"),
        env=environment,
        cwd=unit.redirect(unit.service["WorkingDirectory"][0]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    notify.process = process
    try:
        notify.wait_for("READY=1")
        if not any("WATCHDOG=1" in message.split("\n") for message in notify.received):
            notify.wait_for("WATCHDOG=1")  # the watchdog is fed from before READY=1
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[8080]}/readyz", timeout=10) as ready:
            assert ready.status == 200
        token = environment["GATEWAYD_ADMIN_TOKEN"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports[8081]}/admin/accounts/acme/blacklist",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as blacklist:
            assert json.load(blacklist) == {"account": "acme", "entries": []}
        assert (unit.state / "gatewayd.db").exists()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        notify.close()
