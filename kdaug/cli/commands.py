"""Importing this module registers every command on the `kdaug` group."""
from kdaug.cli import compare, listing, train  # noqa: F401
