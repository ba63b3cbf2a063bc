"""Schemathesis hooks (``hooks`` in schemathesis.toml), loaded by the CLI and by the in-process tests.

One fix of schemathesis 4.32's reading of the spec. Schemathesis pins the discriminator of each
``oneOf`` branch to the tag its ``mapping`` names (``converter._pin_discriminator_property``), but
keeps only the last tag when several name the same schema: ``init`` maps both ``glorot`` and its
alias ``xavier`` to ``GlorotInit`` (``he`` and ``kaiming`` to ``HeInit``), so the branch was pinned
to ``xavier`` alone. Positive data then never used ``glorot`` or ``he``, and negative data "mutated"
the tag to ``glorot`` and reported the valid request's 200 as ST201 (schema-violating request
accepted). The wrapper widens each pin to every tag of the mapping that names the branch's schema.
"""

from __future__ import annotations

from typing import Any

from schemathesis.specs.openapi import converter

_original = getattr(converter, "_pin_discriminator_property", None)
_original = getattr(_original, "__wrapped__", _original)  # idempotent: the toml and the tests both load this file


def _pin_every_tag(schema: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    _original(schema, *args, **kwargs)  # type: ignore[misc]
    discriminator = schema.get("discriminator")
    if not isinstance(discriminator, dict):
        return
    name, mapping = discriminator.get("propertyName"), discriminator.get("mapping") or {}
    for keyword in ("anyOf", "oneOf"):
        for item in schema.get(keyword) or []:
            pins = item.get("allOf") if isinstance(item, dict) else None
            if not (isinstance(pins, list) and len(pins) == 2 and isinstance(pins[1], dict)):
                continue
            pinned = pins[1].get("properties", {}).get(name, {})
            tags = pinned.get("enum") if isinstance(pinned, dict) else None
            if isinstance(tags, list) and len(tags) == 1 and tags[0] in mapping:
                pinned["enum"] = [tag for tag, ref in mapping.items() if ref == mapping[tags[0]]]


if _original is not None:  # a later schemathesis may have renamed it (and fixed it): then nothing to do
    _pin_every_tag.__wrapped__ = _original  # type: ignore[attr-defined]
    converter._pin_discriminator_property = _pin_every_tag
