"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class KdaugError(Exception):
    """A problem with the user's input (flag, file, dataset, checkpoint), not a bug."""
