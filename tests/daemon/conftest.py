"""Running the real `gatewayd` command in a subprocess."""

import os
import subprocess
import sys
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
