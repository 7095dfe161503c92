"""OTLP traces -> rows of the spans table: one row per span, events and links nested."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from gateway_conformance.otlp.columns import AttributeCache, Maps, arrow_table, assemble, list_of
from gateway_conformance.otlp.context import MappedRows, Scopes
from gateway_conformance.otlp.ranges import first_too_big
from gateway_conformance.otlp.signals import KINDS
from gateway_conformance.otlp.values import SPAN_KIND_NAMES, STATUS_CODE_NAMES, enum_text, hex_id
from gateway_conformance.tables.schema import arrow_schema

_SPAN_LONGS = ("start_time_unix_nano", "end_time_unix_nano")
_SPAN_INTS = ("flags", "dropped_attributes_count", "dropped_events_count", "dropped_links_count")
_EVENT_LONGS = ("time_unix_nano",)
_EVENT_INTS = ("dropped_attributes_count",)
_LINK_INTS = ("dropped_attributes_count", "flags")


def _span_problem(span: Any) -> str | None:
    problem = first_too_big(span, _SPAN_LONGS, _SPAN_INTS)
    for index, event in enumerate(span.events):
        problem = problem or first_too_big(event, _EVENT_LONGS, _EVENT_INTS, f"events[{index}].")
    for index, link in enumerate(span.links):
        problem = problem or first_too_big(link, (), _LINK_INTS, f"links[{index}].")
    return problem


def map_spans_request(request: Any) -> MappedRows:
    schema = arrow_schema(KINDS["spans"])
    cache = AttributeCache()
    walker = Scopes(schema, cache, "spans")
    plain: dict[str, list[Any]] = {name: [] for name in (
        "trace_id", "span_id", "trace_state", "parent_span_id", "flags", "name", "kind",
        "start_time_unix_nano", "end_time_unix_nano", "dropped_attributes_count",
        "dropped_events_count", "dropped_links_count")}
    attributes = Maps(cache)
    events: dict[str, list[Any]] = {"time_unix_nano": [], "name": [], "dropped_attributes_count": []}
    event_attributes, event_offsets = Maps(cache), [0]
    links: dict[str, list[Any]] = {"trace_id": [], "span_id": [], "trace_state": [],
                                   "dropped_attributes_count": [], "flags": []}
    link_attributes, link_offsets = Maps(cache), [0]
    status: dict[str, list[str]] = {"message": [], "code": []}

    for where, scope_problem, scope_spans in walker.walk(
            request.resource_spans, "resource_spans", "scope_spans"):
        accepted = 0
        for i, span in enumerate(scope_spans.spans):
            problem = scope_problem or _span_problem(span)
            if problem:
                walker.rejections.add(f"{where}.spans[{i}]", problem)
                continue
            accepted += 1
            plain["trace_id"].append(hex_id(span.trace_id))
            plain["span_id"].append(hex_id(span.span_id))
            plain["trace_state"].append(span.trace_state)
            plain["parent_span_id"].append(hex_id(span.parent_span_id))
            plain["flags"].append(span.flags)
            plain["name"].append(span.name)
            plain["kind"].append(enum_text(SPAN_KIND_NAMES, span.kind))
            plain["start_time_unix_nano"].append(span.start_time_unix_nano)
            plain["end_time_unix_nano"].append(span.end_time_unix_nano)
            plain["dropped_attributes_count"].append(span.dropped_attributes_count)
            plain["dropped_events_count"].append(span.dropped_events_count)
            plain["dropped_links_count"].append(span.dropped_links_count)
            attributes.add(span.attributes)
            for event in span.events:
                events["time_unix_nano"].append(event.time_unix_nano)
                events["name"].append(event.name)
                events["dropped_attributes_count"].append(event.dropped_attributes_count)
                event_attributes.add(event.attributes)
            event_offsets.append(len(events["name"]))
            for link in span.links:
                links["trace_id"].append(hex_id(link.trace_id))
                links["span_id"].append(hex_id(link.span_id))
                links["trace_state"].append(link.trace_state)
                links["dropped_attributes_count"].append(link.dropped_attributes_count)
                links["flags"].append(link.flags)
                link_attributes.add(link.attributes)
            link_offsets.append(len(links["flags"]))
            status["message"].append(span.status.message)  # an unset status reads as UNSET, ""
            status["code"].append(enum_text(STATUS_CODE_NAMES, span.status.code))
        walker.rows(accepted)

    events_type = schema.field("events").type
    links_type = schema.field("links").type
    columns: dict[str, list[Any] | pa.Array] = {
        **plain,
        "attributes": attributes.array(schema.field("attributes").type),
        "events": list_of(events_type, event_offsets, {
            **events, "attributes": event_attributes.array(events_type.value_type.field("attributes").type)}),
        "links": list_of(links_type, link_offsets, {
            **links, "attributes": link_attributes.array(links_type.value_type.field("attributes").type)}),
        "status": assemble(schema.field("status").type, status),
        **walker.columns("span_schema_url"),
    }
    return walker.rejections.result(arrow_table(schema, columns))


