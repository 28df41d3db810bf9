"""The parsing base of the settings models: ``Settings`` (unknown options are errors, values frozen,
option names as aliases), ``opt`` (one field: default, help with unit, command-line shape), the
one-sentence ``SettingsError`` and the small parsers of list-valued options."""

from __future__ import annotations

import math
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import NclatticeError

MAX_SEED = 899_999_999  # LAMMPS seeds are positive integers below 900 million


class SettingsError(NclatticeError):
    """A value does not validate; ``field`` is the option name (alias), ``reason`` the sentence."""

    def __init__(self, field: str | None, reason: str, what: str = ""):
        self.field, self.reason = field, (f"{reason.rstrip('.')} ({what})." if what else reason)
        label = f"--{field} ({what})" if what else f"--{field}"
        super().__init__(f"{label}: {reason}" if field else reason)


def opt(default: Any = ..., help: str = "", *, alias: str | None = None, nargs: str | int | None = None,
        path: bool = False, metavar: str | tuple[str, ...] | None = None, repeat: bool = False,
        **constraints: Any) -> Any:
    """A settings field: default, help text (with unit), option name, command-line shape
    (``nargs``; ``repeat``: the option may be given several times, values collected in a list)."""
    extra = {k: v for k, v in {"nargs": nargs, "path": path, "metavar": metavar, "repeat": repeat}.items() if v}
    return Field(default, alias=alias, description=help, json_schema_extra=extra or None, **constraints)


class Settings(BaseModel):
    """Base of all settings models: unknown options are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              alias_generator=lambda name: name.replace("_", "-"))

    @classmethod
    def option_name(cls, field: str) -> str:
        info = cls.model_fields[field]
        return info.alias or field.replace("_", "-")

    @classmethod
    def parse(cls, options: dict[str, Any]) -> Self:
        """Validate options given by option name or field name; raises SettingsError (one sentence)."""
        try:
            return cls.model_validate(options)
        except ValidationError as exc:
            raise _one_error(cls, exc) from None

    def canonical(self) -> dict[str, Any]:
        """JSON-ready values by field name: 6 and 6.0 give the same dict (and the same key)."""
        return self.model_dump(mode="json")

    def path_fields(self) -> list[str]:
        return [n for n, f in type(self).model_fields.items() if (f.json_schema_extra or {}).get("path")]


def _one_error(cls: type[Settings], exc: ValidationError) -> SettingsError:
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if isinstance(p, str)]
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:
        return SettingsError(None, msg.rstrip(".") + ".")
    by_option = {cls.option_name(n): n for n in cls.model_fields}
    name = by_option.get(loc[0], loc[0])
    if err["type"] == "extra_forbidden":
        known = ", ".join(cls.option_name(n) for n in cls.model_fields)
        return SettingsError(name, f"unknown option; the options are {known}.")
    option = cls.option_name(name) if name in cls.model_fields else name
    if err["type"] == "missing":
        return SettingsError(option, "is required.")
    msg = _FRIENDLY.get(err["type"], lambda ctx: msg[0].lower() + msg[1:])(err.get("ctx") or {})
    got = err.get("input")
    what = _short(cls.model_fields[name].description or "") if name in cls.model_fields else ""
    if err["type"] == "value_error" or got is None:
        return SettingsError(option, msg.rstrip(".") + ".")
    return SettingsError(option, f"{msg}, got {got!r}.", what)


def _short(description: str) -> str:
    """The first clause of a help text: what the option is, with its unit."""
    return description.split(";")[0].split(" (")[0].split(", e.g.")[0].strip()


_FRIENDLY = {
    "finite_number": lambda ctx: "must be a finite number",
    "greater_than": lambda ctx: "must be positive" if ctx["gt"] == 0 else f"must be greater than {ctx['gt']}",
    "greater_than_equal": lambda ctx: "must not be negative" if ctx["ge"] == 0 else f"must be at least {ctx['ge']}",
    "less_than": lambda ctx: f"must be less than {ctx['lt']}",
    "less_than_equal": lambda ctx: f"must be at most {ctx['le']}",
    "float_parsing": lambda ctx: "must be a number",
    "float_type": lambda ctx: "must be a number",
    "int_parsing": lambda ctx: "must be a whole number",
    "int_from_float": lambda ctx: "must be a whole number",
    "int_type": lambda ctx: "must be a whole number",
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "bool_parsing": lambda ctx: "must be true or false",
}


def _floats_from_text(value: Any, what: str) -> Any:
    """'150,200,250' or '150:500:50' (start:stop:step, inclusive) -> floats; lists pass through."""
    if not isinstance(value, str):
        return value
    try:
        if ":" in value:
            start, stop, step = (float(x) for x in value.split(":"))
            if not (step > 0 and math.isfinite(start) and math.isfinite(stop)) or (stop - start) / step > 10_000:
                raise ValueError
            n = math.floor((stop - start) / step + 1e-9) + 1
            return [round(start + i * step, 9) for i in range(max(n, 0))]
        return [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"cannot read {what} '{value}'; give comma-separated numbers (150,200,250) or "
                         "start:stop:step") from None


def _finite(values: list[float], what: str) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what} must be finite numbers, got {values}")


def _float_list(v: Any) -> Any:
    return _floats_from_text(v, "list") if isinstance(v, str) else v
