"""python -m analyzer: the we-advisor command line."""

from analyzer.cli import main

main()
