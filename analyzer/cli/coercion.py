"""Option values converted without pydantic: a tenth of a second off every command's start.

typer (0.29) converts each option's value (its default too) through a pydantic ``TypeAdapter``,
built when the command runs: importing pydantic and building the adapters of a command's ten
options cost 0.1–0.13 s, more than the rest of the command line together. The options of
we-advisor are plain (``str``, ``bool``, ``int``, ``float``, ``Path``, an ``Enum``, a list of one of
them), and so are their values: what ``lean`` does with one is what the adapter would have returned.

Nothing else changes: an option not given (``None``) is typer's own shortcut, a value ``lean`` is not
sure about (``"1e3"`` for an ``int``, ``"0"`` below ``min=1``, a choice not in the list, a number
with ``clamp``) goes to typer's adapter, built then, so every error message is typer's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, cast, get_args, get_origin

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")


@dataclass(frozen=True)
class _ProbeInfo:
    """The parameter information ``install``'s trial conversion reads."""

    min: Any = None
    max: Any = None
    clamp: bool = False
    parser: Any = None
    path_type: Any = None
    case_sensitive: bool = True


class _Unsure(Exception):
    """``lean`` leaves this value to typer's adapter."""


def _number(value: Any, kind: type, info: Any) -> Any:
    if isinstance(value, str):
        if not (_INT if kind is int else _FLOAT).match(value):
            raise _Unsure
        number = kind(value)
    elif type(value) is int or (type(value) is float and kind is float):
        number = kind(value)
    else:
        raise _Unsure
    if number != number or number in (float("inf"), float("-inf")):  # NaN skips every comparison: typer's call
        raise _Unsure
    if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
        raise _Unsure  # typer's message for it
    return number


def _one(value: Any, annotation: Any, info: Any, ctx: Any, param: Any) -> Any:
    """``value`` as typer's adapter for ``annotation`` (not a list) would return it, or ``_Unsure``."""
    from typer._param_types import coerce_cli_choice, coerce_cli_path

    if annotation is str or annotation is bool:
        if type(value) is not annotation:
            raise _Unsure
        return value
    if annotation is int or annotation is float:
        return _number(value, annotation, info)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return coerce_cli_choice(value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx)
    if annotation is Path and info.path_type is None:
        if type(value) is str:
            value = Path(value)  # what pydantic's Path does with a str
        elif not isinstance(value, Path):
            raise _Unsure
        return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
    raise _Unsure


def _supported(annotation: Any, info: Any) -> bool:
    if get_origin(annotation) is list:
        args = get_args(annotation)
        return len(args) == 1 and get_origin(args[0]) is None and _supported(args[0], info)
    plain = annotation in (str, bool, int, float) or (annotation is Path and info.path_type is None)
    return (
        info.parser is None
        and not info.clamp
        and (plain or (isinstance(annotation, type) and issubclass(annotation, Enum)))
    )


def active() -> bool:
    """Whether ``install`` took effect (False with a typer whose internals it was not written for: then
    every value goes through typer's pydantic adapters, as before, only slower to start)."""
    import typer.core

    return getattr(getattr(typer.core, "build_runtime_param", None), "__name__", "") == "lean"


def install() -> None:
    """Make typer build a ``Lean`` runtime parameter for every supported option (a no-op if typer changed)."""
    try:
        import typer.core
        from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    except ImportError:
        return
    if getattr(typer.core, "build_runtime_param", None) is not build_runtime_param:  # not the typer this is for
        return

    @dataclass(frozen=True)
    class Lean(RuntimeParam):
        """Converts what it is sure of itself; anything else, and every error, is the adapter's."""

        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                annotation: Any = self.annotation
                if get_origin(annotation) is list:
                    if not isinstance(value, (list, tuple)):
                        raise _Unsure
                    (item,) = get_args(annotation)
                    return [_one(v, item, self.parameter_info, ctx, param) for v in value]
                return _one(value, self.annotation, self.parameter_info, ctx, param)
            except Exception:  # _Unsure or a refusal: the adapter decides, and says why
                return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)

    def lean(descriptor: TypeDescriptor) -> Any:
        if descriptor.file_annotation is None and _supported(descriptor.annotation, descriptor.parameter_info):
            try:
                return Lean(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation, descriptor=descriptor)
            except Exception:  # a typer whose RuntimeParam changed shape: its own parameter, as without us
                return build_runtime_param(descriptor)
        return build_runtime_param(descriptor)

    # a typer that kept the names but not the shapes: try one conversion through it before taking it
    try:
        probe = Lean(parameter_info=cast(Any, _ProbeInfo()), annotation=int, descriptor=None)
        if probe._coerce_value("4", None, None) != 4:
            return
    except Exception:
        return
    typer.core.build_runtime_param = lean  # type: ignore[attr-defined]  # what _TyperParameter calls
