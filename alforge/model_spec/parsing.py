"""From a ``[model]`` table (dict, TOML file, ``--set KEY=VALUE``) to the section class of its ``kind``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from alforge.errors import SpecError
from alforge.model_spec.kinds import CommitteeModelSpec, GPModelSpec, LocalModelSpec

__all__ = ["ModelSpec", "load_model_spec", "parse_model_spec", "with_settings"]


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "gp"))
    return str(getattr(value, "kind", "gp"))


ModelSpec = Annotated[
    Annotated[GPModelSpec, Tag("gp")]
    | Annotated[CommitteeModelSpec, Tag("committee")]
    | Annotated[LocalModelSpec, Tag("local")],
    Discriminator(
        _kind_of,
        custom_error_type="model_kind",
        custom_error_message="unknown model kind; use gp, committee or local",
    ),
]
"""The ``[model]`` section: a :class:`GPModelSpec`, :class:`CommitteeModelSpec` or :class:`LocalModelSpec`."""

_ADAPTER: TypeAdapter[Any] = TypeAdapter(ModelSpec)
_KINDS = ("gp", "committee", "local")


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"] if part not in _KINDS)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "model_kind":
        message = f"{message} (got {error['input'].get('kind')!r})" if isinstance(error["input"], dict) else message
    elif error["type"] not in ("value_error",) and not isinstance(error.get("input"), dict):
        message = f"{message} (got {error.get('input')!r})"
    return f"model{'.' + where if where else ''}: {message}"


def parse_model_spec(data: dict[str, Any]) -> GPModelSpec | CommitteeModelSpec | LocalModelSpec:
    """Validate a ``[model]`` table.

    Raises
    ------
    SpecError
        One line naming the bad key, e.g. ``model.options: unknown local option 'cutoff'; valid choices: ...``.
    """
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc)) from None


def load_model_spec(path: str | Path) -> GPModelSpec | CommitteeModelSpec | LocalModelSpec:
    """Read the ``[model]`` section of a TOML file (a campaign spec or a file holding only that section)."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such model file; give a TOML file with a [model] section"
        raise SpecError(msg)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid TOML ({exc}); fix the syntax"
        raise SpecError(msg) from None
    if not isinstance(data.get("model"), dict):
        msg = f"{path}: has no [model] section; write the model as in a campaign spec ([model] kind = ...)"
        raise SpecError(msg)
    try:
        return parse_model_spec(data["model"])
    except SpecError as exc:
        msg = f"{path}: {exc}"
        raise SpecError(msg) from None


def _typed(text: str) -> Any:
    """A ``--set`` value as TOML reads it (``8.5``, ``true``, ``[1, 2]``), else the plain string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def with_settings(
    spec: GPModelSpec | CommitteeModelSpec | LocalModelSpec, settings: list[str]
) -> GPModelSpec | CommitteeModelSpec | LocalModelSpec:
    """``spec`` with ``KEY=VALUE`` settings (the section's keys or its options), validated.

    Raises
    ------
    SpecError
        A setting without ``=``, an unknown key (the message lists the valid ones) or a bad value.
    """
    data = spec.model_dump(exclude_unset=True)
    options = dict(data.get("options") or {})
    names = spec.option_names
    own = set(type(spec).model_fields)
    for setting in settings:
        key, sep, text = setting.partition("=")
        key = key.strip()
        if not sep or not key:
            msg = f"--set {setting!r}: write KEY=VALUE, e.g. --set {names[0]}=..."
            raise SpecError(msg)
        if key not in names:
            msg = f"--set {key}: not an option of a {spec.kind} model; valid choices: {', '.join(names)}"
            raise SpecError(msg)
        if key in own:
            data[key] = _typed(text.strip())
        else:
            options[key] = _typed(text.strip())
    data["options"] = options
    data["kind"] = spec.kind
    return parse_model_spec(data)
