"""Figures a test measured (counts, rates, duplicates), printed in a section at the end of the run.

def test_crash(figures):
    figures.add("accepted 5000, final 5000, duplicates at the carrier 12")
"""

from dataclasses import dataclass, field

import pytest

_collected: list[tuple[str, str]] = []


@dataclass
class Figures:
    test: str
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        _collected.append((self.test, line))


@pytest.fixture
def figures(request) -> Figures:
    return Figures(request.node.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:
    if not _collected:
        return
    terminalreporter.section("figures")
    for test, line in _collected:
        terminalreporter.write_line(f"{test}: {line}")
