"""Column builders: Python lists in, one fresh Arrow array out (never a slice).

Attribute lists are converted once per request (:class:`AttributeCache`); maps and lists
collect offsets and children as lists and become one Arrow array each.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import accumulate, chain
from typing import Any

import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from gateway_conformance.otlp.readers import EVERYTHING
from gateway_conformance.otlp.values import any_value_text


def _arrays(fields: Iterable[pa.Field], values: dict[str, list[Any] | pa.Array],
            where: str) -> list[pa.Array]:
    """One array per DDL field, in the DDL's order; lists are converted with the DDL's types.

    A field the mapping has no values for is a bug in the mapping, not in the request."""
    arrays = []
    for field in fields:
        if field.name not in values:
            raise KeyError(f"the mapping has no rule for field {field.name!r} of {where}")
        value = values[field.name]
        arrays.append(value if isinstance(value, pa.Array) else pa.array(value, type=field.type))
    return arrays


def assemble(struct_type: pa.StructType, children: dict[str, list[Any] | pa.Array]) -> pa.StructArray:
    arrays = _arrays(struct_type, children, str(struct_type))
    return pa.StructArray.from_arrays(arrays, fields=list(struct_type))


def arrow_table(schema: pa.Schema, columns: dict[str, list[Any] | pa.Array]) -> pa.Table:
    return pa.Table.from_arrays(_arrays(schema, columns, "the table"), schema=schema)


def list_of(list_type: pa.ListType, offsets: list[int], children: dict[str, Any]) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                    assemble(list_type.value_type, children), type=list_type)


class AttributeCache:
    """The distinct attribute lists of one request, each converted once.

    A list is known by its serialized KeyValues; it gets an index into one MAP array of
    all distinct lists, and every map column is that array ``take``-n by index: no string
    of a repeated attribute set goes through Python twice.
    """

    def __init__(self) -> None:
        self.lists: dict[tuple[bytes, ...], int] = {}
        self.pairs: dict[bytes, tuple[str, str | None]] = {}
        self.offsets = [0]
        self.keys: list[str] = []
        self.values: list[str | None] = []
        self._built: tuple[int, pa.Array] | None = None

    def convert(self, raws: tuple[bytes, ...]) -> int:
        found: dict[str, str | None] = {}
        for raw in raws:
            pair = self.pairs.get(raw)
            if pair is None:
                decoded = KeyValue.FromString(raw)
                pair = self.pairs[raw] = (decoded.key, any_value_text(decoded.value))
            found[pair[0]] = pair[1]  # a repeated key: first position, last value
        self.keys.extend(found)
        self.values.extend(found.values())
        self.offsets.append(len(self.keys))
        index = self.lists[raws] = len(self.lists)
        return index

    def distinct(self, map_type: pa.MapType) -> pa.Array:
        """All distinct maps so far, in index order (rebuilt only when new ones arrived)."""
        if self._built is None or self._built[0] != len(self.lists):
            self._built = (len(self.lists), pa.MapArray.from_arrays(
                pa.array(self.offsets, pa.int32()), pa.array(self.keys, map_type.key_type),
                pa.array(self.values, map_type.item_type), type=map_type))
        return self._built[1]


class Maps:
    """A MAP<STRING, STRING> column, one map per ``add`` of a lazy attribute list."""

    __slots__ = ("cache", "indices")

    def __init__(self, cache: AttributeCache) -> None:
        self.cache = cache
        self.indices: list[int] = []

    def add(self, raws: Any) -> None:
        raws = tuple(raws[:])  # slicing copies a repeated field at C speed; iterating it does not
        index = self.cache.lists.get(raws)
        self.indices.append(self.cache.convert(raws) if index is None else index)

    def add_all(self, lists: Iterable[Any]) -> None:
        """``add`` for each attribute list, looked up with C loops (``map``)."""
        keys = list(map(tuple, map(EVERYTHING, lists)))
        found = list(map(self.cache.lists.get, keys))
        if None in found:  # new lists: convert each once, in order
            cached, convert = self.cache.lists.get, self.cache.convert
            for position, index in enumerate(found):
                if index is None:
                    index = cached(keys[position])
                    found[position] = convert(keys[position]) if index is None else index
        self.indices.extend(found)

    def array(self, map_type: pa.MapType) -> pa.Array:
        return self.cache.distinct(map_type).take(pa.array(self.indices, pa.int32()))


class Lists:
    """An ARRAY<scalar> column, one list per ``add``."""

    __slots__ = ("flat", "offsets")

    def __init__(self) -> None:
        self.offsets = [0]
        self.flat: list[Any] = []

    def add(self, values: Any) -> None:
        self.flat.extend(values[:])
        self.offsets.append(len(self.flat))

    def add_all(self, lists: list[list[Any]]) -> None:
        """``add`` for each of ``lists`` (already copied out of their containers)."""
        self.flat.extend(chain.from_iterable(lists))
        extend_offsets(self.offsets, lists)

    def array(self, list_type: pa.ListType) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()),
                                        pa.array(self.flat, list_type.value_type), type=list_type)


def extend_offsets(offsets: list[int], lists: list[Any]) -> None:
    """Append the end offset of each of ``lists``, laid end to end after ``offsets[-1]``."""
    ends = list(accumulate(map(len, lists), initial=offsets[-1]))
    del ends[0]
    offsets.extend(ends)


