"""`python -m logscope` runs the CLI."""

from .cli import run

run()
