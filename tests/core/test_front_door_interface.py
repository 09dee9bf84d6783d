"""The front doors reach the core through MessageService only: none of them imports the
storage or the daemon's Runtime (type-only imports aside), so they could run in a process
where neither is."""

import ast
from pathlib import Path

import pytest

import gatewayd

FRONT_DOORS = [
    "protocols/http/message_api.py",
    "protocols/http/idempotency.py",
    "protocols/smtp/server.py",
    "protocols/smpp/front_door.py",
]
FORBIDDEN = ("gatewayd.storage", "gatewayd.daemon")


def runtime_imports(source: str) -> list[str]:
    """Modules a source imports when it runs (not under `if TYPE_CHECKING:`)."""
    found: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.module:
                found.append(inner.module)
            elif isinstance(inner, ast.Import):
                found += [alias.name for alias in inner.names]
    return found


@pytest.mark.parametrize("module", FRONT_DOORS)
def test_a_front_door_imports_neither_storage_nor_daemon(module: str) -> None:
    source = (Path(gatewayd.__file__).parent / module).read_text()
    imported = runtime_imports(source)
    assert "gatewayd.core.message_service" in imported
    assert [name for name in imported if name.startswith(FORBIDDEN)] == []


def test_the_check_sees_a_storage_import() -> None:
    source = (
        "from gatewayd.storage import messages\nif TYPE_CHECKING:\n    import gatewayd.daemon\n"
    )
    assert runtime_imports(source) == ["gatewayd.storage"]
