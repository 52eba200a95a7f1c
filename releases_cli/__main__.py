"""`python -m releases_cli` runs the CLI (used by the tests to exercise a given checkout)."""

from releases_cli.cli.app import run

run()
