"""The ``Range`` header of a GET (RFC 9110 section 14): one byte range of an answer of known size.

``bytes=a-b`` (``b`` cut to the last byte), ``bytes=a-`` and ``bytes=-n`` (the last ``n`` bytes) are
served as 206; a range that starts past the end (or ``-0``) is unsatisfiable (416). Several ranges in
one header are answered whole (200), as RFC 9110 allows a server to: download tools ask for one range
per request. A header that is not a valid ``bytes`` range set is ignored (200), as RFC 9110 requires.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"(\d*)-(\d*)")


class Unsatisfiable(Exception):
    """No byte of the range exists (416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte range asked of an answer of ``size`` bytes, or None for the
    whole answer; raises ``Unsatisfiable``."""
    if header is None:
        return None
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",")]
    matches = [_SPEC.fullmatch(spec) for spec in specs]
    if not all(matches) or any(m.group(1) == m.group(2) == "" for m in matches if m):
        return None
    if len(specs) > 1:
        return None
    first_text, last_text = matches[0].groups()  # type: ignore[union-attr]
    if first_text == "":
        suffix = int(last_text)
        if suffix == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text != "" and int(last_text) < first:
        return None  # invalid: ignored
    last = size - 1 if last_text == "" else int(last_text)
    if first >= size:
        raise Unsatisfiable
    return first, min(last, size - 1)
