"""The one exception configuration problems are reported with."""


class ConfigError(Exception):
    """A configuration that cannot be used; each problem is a 'key.path: reason' line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def format_path(location: tuple[str | int, ...]) -> str:
    """('accounts', 0, 'name') -> 'accounts[0].name'."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"
