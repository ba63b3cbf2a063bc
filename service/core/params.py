"""The one description of a parameter: a scheme's field, a framework initializer's field or a layer's argument.

Every table (``service.core.schemes``, ``service.core.frameworks``, ``service.core.presets``) describes its
parameters with ``Param``; ``check`` reads a request's values against them (one ``coerce`` per value), the
HTTP layer builds its Pydantic fields from them, and ``field_info`` / ``argument_info`` list them in
``GET /v1/schemes``.

Two reading conventions, one per kind of table, keep the answers the service has always given:

- an initializer's *field* (``argument=False``) is a JSON number read as a float64: an integral float is an
  integer (``groups=2.0``), a number becomes a float, null is refused as a value of the wrong type;
- a layer's constructor *argument* (``argument=True``) is read as the framework's constructor takes it: an
  integer must be a JSON integer, a number keeps its type, both within 2^53, and null is refused as null.

>>> check("scheme normal", (Param("std", "number", 1.0, "standard deviation", minimum=0.0),), {"std": 2}, "init.")
{'std': 2.0}
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from service.core.errors import ParameterError

Kind = Literal["number", "integer", "integers", "choice", "axes", "boolean"]

#: The largest integer a layer argument takes: beyond 2^53 a size is no longer exact in float64 (and useless).
MAX_INTEGER: Final[int] = 2**53

#: The largest integer an initializer field takes: beyond it the value is no float64.
MAX_FLOAT_INTEGER: Final[int] = 2**1023


class _Required:
    """The ``default`` of a required parameter."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: The ``default`` of a required parameter (``None`` is a real default: no window, cumulative average, ...).
REQUIRED: Final[Any] = _Required()


@dataclass(frozen=True)
class Param:
    """One parameter: its name, kind, default (``REQUIRED``: none) and constraints.

    ``kind``: ``number`` (int or float); ``integer``; ``boolean``; ``choice`` (one of ``choices``); ``axes``
    (an int or a list of ints, as JAX ``in_axis``); ``integers`` (an int or a list of ints, e.g.
    ``kernel_size``: with ``length`` set, an int is repeated ``length`` times as PyTorch's ``_pair`` does and a
    list must have that length; without, an int stays an int; with ``choices``, one of those strings too, as
    PyTorch ``padding="same"``). ``nullable``: ``None`` is a value. ``minimum``, ``maximum``,
    ``exclusive_minimum``, ``exclusive_maximum`` bound a number and every integer of a list. ``argument``: a
    layer's constructor argument rather than an initializer's field (see the module docstring).
    """

    name: str
    kind: Kind
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    nullable: bool = False
    length: int | None = None
    argument: bool = False

    @property
    def required(self) -> bool:
        """Whether a request must give the parameter."""
        return self.default is REQUIRED


# -- reading values ------------------------------------------------------------------------------------


def _bounded(param: Param, value: float, subject: str, where: str) -> None:
    """Refuse ``value`` outside the parameter's bounds; ``subject`` names it in the message."""
    bounds = (
        (">=", param.minimum, operator.ge),
        (">", param.exclusive_minimum, operator.gt),
        ("<=", param.maximum, operator.le),
        ("<", param.exclusive_maximum, operator.lt),
    )
    for relation, limit, holds in bounds:
        if limit is not None and not holds(value, limit):
            raise ParameterError(f"{subject} must be {relation} {limit:g}, got {value!r}", where)


def _exact_integer(param: Param, value: object, subject: str, where: str) -> int:
    """An argument's integer: a JSON integer (not a boolean, not a float) within 2^53 and the bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{subject} must be an integer, got {value!r}", where)
    if abs(value) > MAX_INTEGER:
        raise ParameterError(f"{subject} must be at most 2^53 in magnitude, got {value}", where)
    _bounded(param, value, subject, where)
    return value


def _number(param: Param, value: object, where: str) -> float | int:
    """A number (or a field's integer, an integral number) within the magnitude limit and the bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{param.name} must be a number, got {value!r}", where)
    if isinstance(value, int):
        if param.argument and abs(value) > MAX_INTEGER:
            raise ParameterError(f"{param.name} is too large: {value}", where)
        if not param.argument and abs(value) > MAX_FLOAT_INTEGER:
            raise ParameterError(f"{param.name} is too large for a float64: {value}", where)
    if not math.isfinite(value):
        raise ParameterError(f"{param.name} must be finite, got {value!r}", where)
    number: float | int = value
    if param.kind == "integer":
        if value != int(value):
            raise ParameterError(f"{param.name} must be an integer, got {value!r}", where)
        number = int(value)
    elif not param.argument:
        number = float(value)
    _bounded(param, number, param.name, where)
    return number


def _integers(param: Param, value: object, where: str) -> int | tuple[int, ...]:
    """An int or a list of ints (``integers``), a list normalized to a tuple."""
    from service.core.plan import MAX_RANK  # plan reads the scheme table, which reads this module

    if isinstance(value, list | tuple):
        if not value:
            raise ParameterError(f"{param.name} must not be an empty list", where)
        if len(value) > MAX_RANK:
            raise ParameterError(f"{param.name} has {len(value)} entries; at most {MAX_RANK} are allowed", where)
        if param.length is not None and len(value) != param.length:
            raise ParameterError(
                f"{param.name} must be an integer or a list of {param.length} integers, got {len(value)}: "
                f"{list(value)}",
                where,
            )
        return tuple(_exact_integer(param, v, f"every entry of {param.name}", where) for v in value)
    if isinstance(value, bool) or not isinstance(value, int):
        choices = f" or one of {', '.join(param.choices)}" if param.choices else ""
        raise ParameterError(f"{param.name} must be an integer or a list of integers{choices}, got {value!r}", where)
    number = _exact_integer(param, value, param.name, where)
    return (number,) * param.length if param.length is not None else number


def coerce(param: Param, value: object, where: str) -> Any:
    """``value`` checked against ``param`` and normalized (lists become tuples, a field's numbers floats).

    Raises ``ParameterError`` with field ``where`` (the parameter's dotted path in the request).
    """
    if value is None:
        if param.nullable:
            return None
        if param.argument:
            raise ParameterError(f"{param.name} must not be null", where)
    if param.kind == "axes":  # an int or a list of ints (JAX in_axis, Keras input_axes)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, list | tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
        raise ParameterError(f"{param.name} must be an integer or a list of integers, got {value!r}", where)
    if param.kind == "boolean":
        if not isinstance(value, bool):
            expected = "a boolean" if param.argument else "true or false"
            raise ParameterError(f"{param.name} must be {expected}, got {value!r}", where)
        return value
    if param.kind == "choice" or (param.kind == "integers" and param.choices and isinstance(value, str)):
        if not isinstance(value, str) or value not in param.choices:
            raise ParameterError(f"{param.name} must be one of {', '.join(param.choices)}, got {value!r}", where)
        return str(value)
    if param.kind == "integers":
        return _integers(param, value, where)
    if param.kind == "integer" and param.argument:
        return _exact_integer(param, value, param.name, where)
    return _number(param, value, where)


def check(owner: str, params: Sequence[Param], given: Mapping[str, object], prefix: str = "") -> dict[str, Any]:
    """``given`` checked against ``params``, with the defaults filled in, in ``params`` order.

    An unknown, missing, mistyped or out-of-range value is a ``ParameterError`` naming ``<prefix><name>``;
    ``owner`` ("scheme he", "preset torch.Linear") says whose parameters they are. Arguments are listed in
    their table's order, fields alphabetically.
    """
    arguments = any(p.argument for p in params)
    names = [p.name for p in params]
    for key in given:
        if key not in names:
            allowed = ", ".join(names if arguments else sorted(names)) or "none"
            noun = "argument" if arguments else "field"
            raise ParameterError(f"unknown {noun} {key!r} for {owner} (allowed: {allowed})", f"{prefix}{key}")
    checked: dict[str, Any] = {}
    for param in params:
        if param.name in given:
            checked[param.name] = coerce(param, given[param.name], f"{prefix}{param.name}")
        elif param.required:
            raise ParameterError(f"{param.name} is required for {owner}", f"{prefix}{param.name}")
        else:
            checked[param.name] = coerce(param, param.default, f"{prefix}{param.name}")
    return checked


# -- listing ---------------------------------------------------------------------------------------------


def _listed(default: Any) -> Any:
    """A default as JSON lists it (a tuple as a list; a required parameter's as null)."""
    if default is REQUIRED:
        return None
    return list(default) if isinstance(default, tuple) else default


def field_info(param: Param) -> dict[str, Any]:
    """An initializer's field as the catalogue lists it (``fields`` of ``GET /v1/schemes``)."""
    return {
        "name": param.name,
        "type": param.kind,
        "required": param.required,
        "default": _listed(param.default),
        "choices": list(param.choices) or None,
        "description": param.description,
    }


def argument_info(param: Param) -> dict[str, Any]:
    """A layer's argument as the catalogue lists it (a preset's ``args``): only the constraints it has."""
    entry: dict[str, Any] = {"name": param.name, "kind": param.kind, "required": param.required}
    if not param.required:
        entry["default"] = _listed(param.default)
    entry["description"] = param.description
    optional = {"minimum": param.minimum, "maximum": param.maximum, "nullable": param.nullable or None}
    entry.update({key: value for key, value in optional.items() if value is not None})
    if param.choices:
        entry["choices"] = list(param.choices)
    if param.length is not None:
        entry["length"] = param.length
    return entry
