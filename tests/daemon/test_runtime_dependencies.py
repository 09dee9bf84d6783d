"""What `scripts/demo` installs (the runtime dependencies, no test extras) is enough for the
daemon: every third-party module gatewayd imports comes from a dependency pyproject.toml
names. A module only the test extras brought once stopped `gatewayd run` on a fresh machine
(httpx, imported by `gatewayd admin`)."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> dict[str, set[str]]:
    """Top-level module -> the files of gatewayd that import it."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "gatewayd").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "gatewayd" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_module_the_daemon_imports_comes_from_a_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {
        _normalized(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in project["dependencies"]
    }
    providers = packages_distributions()
    missing = {
        module: sorted(files)
        for module, files in _imported_modules().items()
        if not {_normalized(d) for d in providers.get(module, [])} & runtime
    }
    assert missing == {}, f"imported by gatewayd, not a runtime dependency: {missing}"
