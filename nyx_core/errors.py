"""Errors a user can read: every message says what went wrong and, where it can, what to do."""


class NyxError(Exception):
    """Base class for errors shown to the user as one clear line."""


class PathError(NyxError, ValueError):
    """A user-given path was refused (outside the workspace, malformed, or missing)."""
