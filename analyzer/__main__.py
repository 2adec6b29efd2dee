"""python -m analyzer, and the ``we-advisor`` script (``console_main``): the we-advisor command line."""

from analyzer.cli import main
from analyzer.cli.lean import end_process


def console_main() -> None:
    """The script's and ``python -m analyzer``'s entry point: ``cli.main``, then the process ends as
    ``cli.lean.end_process`` has it (after an analysis or ``ingest``: without tearing its heap down). A caller
    of ``cli.main`` itself gets its ``SystemExit`` and goes on."""
    try:
        main()
    except SystemExit as exc:  # typer always ends this way
        end_process(exc)  # raised again unless the process ends here


if __name__ == "__main__":
    console_main()
