"""Errors raised by the core for requests that cannot be served.

Every error names the request field at fault (``field``, a dotted path such as
``"init.scale"``) so that the HTTP layer can report it without guessing.
"""

from __future__ import annotations


class InitError(ValueError):
    """A request the core refuses; ``field`` is the dotted path of the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ParameterError(InitError):
    """A scheme parameter is missing, unknown, of the wrong type or out of range."""


class ShapeError(InitError):
    """The shape does not suit the scheme or the layout (rank, zero dims, groups)."""


class LayoutError(InitError):
    """The layout or the explicit fan axes are invalid."""


class TooLargeError(InitError):
    """The tensor (or the work it needs) exceeds a configured limit."""
