"""The unit file: systemd's own verifier accepts it, and it carries what the README promises."""

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "gatewayd.service"


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
