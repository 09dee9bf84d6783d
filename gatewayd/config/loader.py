"""Read, resolve and validate a configuration file into a `Config`."""

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url

from gatewayd.config.checks import cross_check
from gatewayd.config.errors import ConfigError, format_path
from gatewayd.config.schema import Config
from gatewayd.config.secrets import resolve_secrets


def load_config(path: str | os.PathLike[str], environ: dict[str, str] | None = None) -> Config:
    """The validated configuration in `path`, or a ConfigError listing every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror}"]) from None
    config = parse_config(text, source=str(path), environ=environ)
    return _sqlite_relative_to(config, Path(path).resolve().parent)


def _sqlite_relative_to(config: Config, directory: Path) -> Config:
    """A relative SQLite path (sqlite:///var/g.db) names a file beside the configuration file,
    wherever the command runs from; an absolute one (sqlite:////var/lib/g.db) stays."""
    url = make_url(config.database.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return config
    if Path(url.database).is_absolute():
        return config
    absolute = url.set(database=os.path.normpath(directory / url.database))
    database = config.database.model_copy(
        update={"url": absolute.render_as_string(hide_password=False)}
    )
    return config.model_copy(update={"database": database})


def parse_config(text: str, source: str = "<config>", environ: dict[str, str] | None = None):
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError([f"{source}: YAML syntax error: {_describe_yaml_error(error)}"]) from None
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    tree, problems = resolve_secrets(tree, environ)
    if problems:
        raise ConfigError(problems)
    try:
        config = Config.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(_describe_validation(error, tree)) from None
    problems = cross_check(config)
    if problems:
        raise ConfigError(problems)
    return config


def _describe_yaml_error(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return problem
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


def _describe_validation(error: ValidationError, tree: dict[str, Any]) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        location = tuple(part for part in item["loc"] if not _is_union_tag(part))
        path = format_path(location)
        if item["type"] == "extra_forbidden":
            problems.append(f"{path}: unknown key{_suggestion(location)}")
        elif item["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            message = item["msg"].removeprefix("Value error, ")
            problems.append(
                f"{path}: {message} (got {_shown(item.get('input'))})"
                if item["type"] != "value_error"
                else f"{path}: {message}"
            )
    return list(dict.fromkeys(problems))


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the member type's name to the location of errors inside a union.
    return isinstance(part, str) and (
        part[0].isupper()
        or part in ("bool", "float", "int", "str", "function-after[...]")
        or part.startswith(("function-", "constrained-", "lax-", "list["))
    )


def _suggestion(location: tuple[str | int, ...]) -> str:
    """'; did you mean …?' for a misspelt key, found among the keys its model accepts."""
    model: Any = Config
    for part in location[:-1]:
        model = _field_model(model, part)
        if model is None:
            return ""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    known = list(model.model_fields)
    wrong = str(location[-1])
    close = difflib.get_close_matches(wrong.lower(), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"


def _field_model(model: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return model
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    field = model.model_fields.get(part)
    if field is None:
        return None
    return _inner_model(field.annotation)


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
