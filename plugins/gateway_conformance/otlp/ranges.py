"""Range checks: a value no column can hold rejects its item, never wraps or rounds.

The fast path is one comparison per field; the message is built only on failure.
"""

from __future__ import annotations

from operator import attrgetter, methodcaller
from typing import Any

from gateway_conformance.otlp.readers import AS_DOUBLE, AS_INT, WHICH_VALUE
from gateway_conformance.otlp.values import INT_MAX, LONG_MAX


def too_big(field: str, value: int, column_type: str, limit: int) -> str:
    return f"{field} = {value} does not fit the {column_type} column (max {limit})"


def first_too_big(message: Any, longs: tuple[str, ...], ints: tuple[str, ...],
                   prefix: str = "") -> str | None:
    for field in longs:
        if getattr(message, field) > LONG_MAX:
            return too_big(prefix + field, getattr(message, field), "LONG", LONG_MAX)
    for field in ints:
        if getattr(message, field) > INT_MAX:
            return too_big(prefix + field, getattr(message, field), "INT", INT_MAX)
    return None


def inexact(field: str, whole: int) -> str:
    return (f"{field}.as_int = {whole} cannot be held exactly by the DOUBLE column "
            f"(integers beyond 2**53 would lose digits)")


def number_values(messages: list[Any]) -> list[float | None] | None:
    """The DOUBLE ``value`` of number points or exemplars, with C loops: ``as_double``, an
    ``as_int`` as the same double, or NULL for neither. None when an ``as_int`` cannot be
    held exactly (the caller then goes point by point to reject just that one).

    An unset ``as_double`` reads 0.0, so a value that is not 0.0 (NaN included) is a set
    ``as_double``: only the zeros need asking which member of the oneof is set, one by
    one when they are a quarter of the values or fewer, else all in one C loop."""
    doubles = list(map(AS_DOUBLE, messages))
    zeros = doubles.count(0.0)  # -0.0 too
    if zeros * 4 <= len(doubles):
        position = -1
        for _ in range(zeros):
            position = doubles.index(0.0, position + 1)
            kind = messages[position].WhichOneof("value")
            if kind == "as_int":
                whole = messages[position].as_int
                if float(whole) != whole:
                    return None
                doubles[position] = float(whole)
            elif kind is None:
                doubles[position] = None
        return doubles
    kinds = list(map(WHICH_VALUE, messages))
    size = len(kinds)
    if kinds.count("as_double") == size:
        return doubles
    if kinds.count(None) == size:
        return [None] * size
    whole = list(map(AS_INT, messages))  # 0 where unset
    whole_doubles = list(map(float, whole))
    if whole_doubles != whole:  # int == float compares exactly
        return None
    if kinds.count("as_int") == size:
        return whole_doubles
    return [number if kind == "as_double" else double if kind == "as_int" else None
            for kind, number, double in zip(kinds, doubles, whole_doubles, strict=True)]


def optional(points: list[Any], field: str) -> list[float | None]:
    """An ``optional double`` of each point, NULL where it is unset."""
    values = list(map(attrgetter(field), points))
    if 0.0 not in values:  # an unset one reads as 0.0 (and -0.0 == 0.0 is asked about too)
        return values
    present = list(map(methodcaller("HasField", field), points))
    return [value if has else None for value, has in zip(values, present, strict=True)]


def counts_problem(field: str, counts: Any) -> str | None:
    if counts and max(counts) > LONG_MAX:
        index, value = next((i, c) for i, c in enumerate(counts) if c > LONG_MAX)
        return too_big(f"{field}[{index}]", value, "LONG", LONG_MAX)
    return None


