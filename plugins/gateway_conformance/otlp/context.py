"""What every signal shares: resource and scope built once and spread over rows with ``take``,
runs of row indices, rejections for OTLP partial success, and the mapped result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from gateway_conformance.otlp.columns import AttributeCache, Maps, assemble
from gateway_conformance.otlp.ranges import too_big
from gateway_conformance.otlp.values import INT_MAX


@dataclass(frozen=True)
class MappedRows:
    """The rows of one export request, and what it rejected (for OTLP partial success).

    ``rejected`` counts data points, log records or spans; ``error_message`` names the
    first rejected item's path, field and value (None when nothing was rejected).
    """

    table: pa.Table
    rejected: int = 0
    error_message: str | None = None


Reject = Callable[[int, str], None]


class _Context:
    """``resource`` + ``resource_schema_url`` or ``instrumentation_scope`` + ``*_schema_url``."""

    def __init__(self, struct_type: pa.StructType, cache: AttributeCache) -> None:
        self.type = struct_type
        self.with_name = "name" in struct_type.names
        self.name: list[str] = []
        self.version: list[str] = []
        self.attributes = Maps(cache)
        self.dropped: list[int] = []
        self.schema_url: list[str] = []

    def add(self, message: Any, schema_url: str, where: str) -> str | None:
        """Record one resource/scope; returns why its rows cannot be written, if so."""
        dropped = message.dropped_attributes_count
        problem = None
        if dropped > INT_MAX:
            problem, dropped = too_big(f"{where}.dropped_attributes_count", dropped, "INT", INT_MAX), 0
        if self.with_name:
            self.name.append(message.name)
            self.version.append(message.version)
        self.attributes.add(message.attributes)
        self.dropped.append(dropped)
        self.schema_url.append(schema_url)
        return problem

    def columns(self, rows: Runs, struct_column: str, url_column: str) -> dict[str, pa.Array]:
        children: dict[str, Any] = {
            "attributes": self.attributes.array(self.type.field("attributes").type),
            "dropped_attributes_count": self.dropped}
        if self.with_name:
            children.update(name=self.name, version=self.version)
        return {struct_column: rows.spread(assemble(self.type, children)),
                url_column: rows.spread(pa.array(self.schema_url, pa.string()))}


class PerMetric:
    """A struct field whose value is the same for all points of a metric (temporality,
    monotonicity): one value per metric, spread over its points by :class:`Runs`."""

    __slots__ = ("runs", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.runs = Runs()

    def add(self, value: Any, points: int) -> None:
        self.runs.add(len(self.values), points)
        self.values.append(value)

    def array(self, value_type: pa.DataType) -> pa.Array:
        return self.runs.spread(pa.array(self.values, value_type))


class Runs:
    """Row -> index of its resource, scope or metric, kept as runs (rows come grouped).

    Arrow expands the runs (``run_end_decode``) into the int32 index column, so there is
    no Python int per row."""

    __slots__ = ("ends", "values")

    def __init__(self) -> None:
        self.ends: list[int] = []
        self.values: list[int] = []

    def add(self, value: int, rows: int) -> None:
        """The next ``rows`` rows belong to value number ``value``."""
        if rows:
            self.ends.append((self.ends[-1] if self.ends else 0) + rows)
            self.values.append(value)

    @property
    def rows(self) -> int:
        return self.ends[-1] if self.ends else 0

    def spread(self, values: pa.Array) -> pa.Array:
        """One value per row from ``values``, one per resource/scope/metric (fresh arrays, no
        slices). When value ``i`` is row ``i``'s (one point per metric, one metric per scope)
        ``values`` is the column already, and the take would only copy it."""
        if len(values) == self.rows == len(self.ends) and self.values == list(range(len(values))):
            return values
        if not self.ends:
            return values.take(pa.array([], pa.int32()))
        return values.take(pc.run_end_decode(pa.RunEndEncodedArray.from_arrays(
            pa.array(self.ends, pa.int32()), pa.array(self.values, pa.int32()))))


class _Rejections:
    """Counts rejected items and keeps the reason of the first one in request order (OTLP's
    ``error_message``), also when items are mapped out of order (metrics go kind by kind)."""

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self.count = 0
        self.first: str | None = None
        self._first_order: tuple[int, int] | None = None

    def add(self, where: str, problem: str, order: tuple[int, int] = (0, 0)) -> None:
        """Count one rejected item; ``order`` is its place in the request (the default keeps
        the first call's reason)."""
        self.count += 1
        if self._first_order is None or order < self._first_order:
            self.first, self._first_order = f"{where}: {problem}", order

    def at(self, prefix: Callable[[], str], order: int = 0) -> Reject:
        """``reject(index, why)`` for the items of the list at ``prefix()``, item number
        ``order`` of its kind in the request. The prefix is built only if something is rejected."""
        return lambda index, problem: self.add(f"{prefix()}[{index}]", problem, (order, index))

    def result(self, table: pa.Table) -> MappedRows:
        if not self.count:
            return MappedRows(table)
        more = f" (and {self.count - 1} more)" if self.count > 1 else ""
        return MappedRows(table, self.count, f"rejected {self.count} {self.noun}: {self.first}{more}")


class Scopes:
    """Walks resource -> scope -> items for any signal, recording resources and scopes."""

    def __init__(self, schema: pa.Schema, cache: AttributeCache, noun: str) -> None:
        self.resources = _Context(schema.field("resource").type, cache)
        self.scopes = _Context(schema.field("instrumentation_scope").type, cache)
        self.resource_rows = Runs()
        self.scope_rows = Runs()
        self.rejections = _Rejections(noun)

    def walk(self, resource_items: Any, resource_field: str, scope_field: str) -> Any:
        """Yield ``(where, problem, scope_item)`` per scope (``problem`` rejects all its items);
        :meth:`rows` records accepted rows under the current resource and scope."""
        for r, resource_item in enumerate(resource_items):
            where_r = f"{resource_field}[{r}]"
            resource_problem = self.resources.add(resource_item.resource, resource_item.schema_url,
                                                  f"{where_r}.resource")
            for s, scope_item in enumerate(getattr(resource_item, scope_field)):
                where_s = f"{where_r}.{scope_field}[{s}]"
                scope_problem = self.scopes.add(scope_item.scope, scope_item.schema_url, f"{where_s}.scope")
                yield where_s, resource_problem or scope_problem, scope_item

    def here(self) -> tuple[int, int]:
        """The current (resource, scope) of the walk, for :meth:`rows` called after it."""
        return len(self.resources.schema_url) - 1, len(self.scopes.schema_url) - 1

    def rows(self, count: int, at: tuple[int, int] | None = None) -> None:
        """``count`` accepted rows under the current resource and scope, or under ``at``
        (from :meth:`here`); rows must still be recorded in request order."""
        resource, scope = self.here() if at is None else at
        self.resource_rows.add(resource, count)
        self.scope_rows.add(scope, count)

    def columns(self, url_column: str) -> dict[str, pa.Array]:
        return {**self.resources.columns(self.resource_rows, "resource", "resource_schema_url"),
                **self.scopes.columns(self.scope_rows, "instrumentation_scope", url_column)}


