"""`python -m entrypoints.cli`: the `porth` command."""

from entrypoints.cli.main import main

main()
