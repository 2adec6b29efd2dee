"""Where the command line's global options may stand: before or after the command.

``--store`` and ``--config`` are options of each command; ``-v``/``--verbose`` is the main one's.
People type them on either side (``we-advisor --store X stats``, ``we-advisor stats -v``), so the
arguments are put in order before they are parsed: the command options given before the command
move after it (after a group's subcommand), the main flags given after it move before it. The
``--help`` of each command stays as it is (no option declared twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMMAND_OPTIONS = ("--store", "--config")  # each command's own; also accepted before the command
MAIN_FLAGS = ("-v", "--verbose")  # the main callback's; also accepted after the command


@dataclass(frozen=True, slots=True)
class CommandShape:
    """What the reordering needs to know of a command: is it a group, which options take a value."""

    group: bool
    takes_value: frozenset[str]


def command_shape(root: Any, ctx: Any, path: list[str]) -> CommandShape | None:
    """The shape of the command at ``path`` under the click group ``root`` (None: no such command)."""
    found = root
    for name in path:
        found = found.get_command(ctx, name) if hasattr(found, "get_command") else None
        if found is None:
            return None
    params = [p for p in found.params if p.param_type_name == "option" and not getattr(p, "is_flag", False)]
    return CommandShape(hasattr(found, "get_command"), frozenset(o for p in params for o in p.opts))


def global_options_in_place(args: list[str], command: Callable[[list[str]], CommandShape | None]) -> list[str]:
    """``args`` with ``--store``/``--config`` before the command moved after it and ``-v``/``--verbose``
    after it moved before it. ``command(path)``: the shape of the command at ``path`` (None: unknown).
    An option's value that happens to be ``-v`` stays where it is."""
    args = list(args)
    moved: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i].split("=", 1)[0] in COMMAND_OPTIONS:
            width = 1 if "=" in args[i] else 2
            moved += args[i : i + width]
            del args[i : i + width]
        else:
            i += 1
    if i >= len(args):
        return args + moved  # no command: the parser says what is wrong
    path, end = [args[i]], i + 1
    shape = command(path)
    while shape is not None and shape.group and end < len(args) and not args[end].startswith("-"):
        path.append(args[end])
        shape, end = command(path), end + 1
    kept, flags = _take_flags(args[end:], shape.takes_value if shape else frozenset())
    return flags + args[:end] + moved + kept


def _take_flags(args: list[str], takes_value: frozenset[str]) -> tuple[list[str], list[str]]:
    kept: list[str] = []
    flags: list[str] = []
    skip = False
    for n, arg in enumerate(args):
        if skip:
            kept.append(arg)
            skip = False
        elif arg == "--":
            return kept + args[n:], flags
        elif arg in MAIN_FLAGS:
            flags.append(arg)
        else:
            kept.append(arg)
            skip = arg in takes_value
    return kept, flags
