"""python -m analyzer: the we-advisor command line."""

from analyzer.cli import console_main

console_main()
