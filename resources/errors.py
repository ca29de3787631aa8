"""The base of the platform's own errors."""

from __future__ import annotations


class TributaryError(Exception):
    """An error the platform raises with a message that says what went wrong and where (file,
    field, column, value), so a run's one-line summary shows the message alone, without the
    exception's type name."""
