"""The typer application every command hangs on: its main options (``--version``, ``-v``), where
global options may stand, and how a command ends (what it prints, its error lines, its exit code).

Every command runs under ``user_errors``: nothing escapes as a traceback, not even a bug in the
printing after a command's library call; what an error says is ``present.problems``'.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from analyzer import api
from analyzer.cli import coercion
from analyzer.cli.options import VERSION_HELP, Verbose
from analyzer.present.options import command_shape, global_options_in_place
from analyzer.present.problems import explain
from analyzer.present.progress import stderr_line, stderr_lines
from analyzer.redaction import debug_logging


class _Group(TyperGroup):
    """Runs every command under ``user_errors``, and takes ``--store``/``--config`` before the
    command and ``-v`` after it (``present.options``)."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer vendors click; its path is private)
        with user_errors():
            return super().invoke(ctx)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, global_options_in_place(args, lambda path: command_shape(self, ctx, path)))


if hasattr(TyperOption, "display_type_rich"):  # flags take no value: their help shows none (typer: ``<bool>``)
    _typed = TyperOption.display_type_rich
    TyperOption.display_type_rich = lambda self, ctx: None if self.is_flag else _typed(self, ctx)  # type: ignore[method-assign]
coercion.install()  # option values converted without importing pydantic (``cli.coercion``)


app = typer.Typer(
    name="we-advisor",
    help="CI log analyzer and timeout advisor for GitHub Actions: timeouts from evidence, not guesses.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    cls=_Group,
)
bootstrap_app = typer.Typer(
    help="Run a setup plan (a DAG of tasks) under measured time limits, and predict its wall time.", no_args_is_help=True
)
app.add_typer(bootstrap_app, name="bootstrap")
_verbose = [False]  # what --verbose said for this invocation


@contextmanager
def user_errors() -> Iterator[None]:
    """The one exit path for errors: what ``present.problems.explain`` says on stderr, then its exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):  # exit codes and usage errors: typer's to print
        raise
    except BrokenPipeError:  # the reader stopped reading (`| head`): click ends quietly, as at the top level
        raise
    except (Exception, KeyboardInterrupt) as exc:
        explained = explain(exc, verbose=_verbose[0])
        for line in explained.lines:
            stderr_line(line)
        raise typer.Exit(code=explained.exit_code) from None


def exit_with(code: int) -> None:
    """A command's own failure (a fetch stopped early, a plan's task failed): its exit code, nothing printed."""
    if code:
        raise typer.Exit(code=code)


def show(*pieces: str | Iterable[str]) -> None:
    """What a command prints, in order: a ``str`` to stdout as it is, any other piece line by line to stderr."""
    for piece in pieces:
        if isinstance(piece, str):
            typer.echo(piece, nl=False)
        else:
            stderr_lines(piece)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(api.version_line())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True, help=VERSION_HELP)] = False,
    verbose: Verbose = False,
) -> None:
    _verbose[0] = verbose
    debug_logging(verbose)
