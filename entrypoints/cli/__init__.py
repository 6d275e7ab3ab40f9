"""The `porth` command line (entrypoints.cli.main)."""
