"""Importing this module registers every command on the `kdaug` group."""
from kdaug.cli import bench, compare, data_cmd, listing, plot, show_aug, study_cmd, train  # noqa: F401
