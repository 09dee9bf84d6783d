"""/openapi.json matches the running server: schemathesis fuzzes every operation against it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCHEMATHESIS = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
EXTRA = """
carriers: [{name: sim, simulator: {receipt_delay_s: 0}}]
"""


@pytest.mark.skipif(not Path(SCHEMATHESIS).exists(), reason="schemathesis is not installed")
def test_no_operation_answers_5xx_or_outside_its_documented_schema(daemon):
    gatewayd = daemon(EXTRA)
    gatewayd.wait_ready()
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"http://127.0.0.1:{gatewayd.http_port}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,"
            "content_type_conformance",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--request-timeout",
            "10",
            "--header",
            "X-Api-Key: shop-key-0123456789",
            "--phases",
            "examples,coverage,fuzzing",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    status, stderr = gatewayd.stop(timeout=10)
    assert status == 0 and "Traceback" not in stderr
