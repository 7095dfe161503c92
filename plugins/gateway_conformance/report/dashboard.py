"""The usage dashboard: what platform teams see on AI Gateway's prebuilt dashboard, from our tables.

Every chart is a :class:`Chart`: its data (series of points), the table and columns it
reads (shown under the chart, so a reader can rebuild it in SQL), and, when there is
nothing to draw, why ("no data yet" is a state, not a broken plot). Metric and event names
and attributes are Claude Code's published ones (docs/report.md lists them):

* metrics are counters; each row is one data point. Delta points are summed per time
  bucket; cumulative points are first turned into increments per stream (same attributes,
  resource and start time), so both temporalities chart the same.
* log events are recognised by ``event_name``, else the ``event.name`` attribute, else the
  body, with or without the ``claude_code.`` prefix; their attribute values are text.
* the gateway's usage table (one row per request) gives requests, tokens and errors by user
  (``requester``), by agent/tool (``agent``) and by model (``endpoint_name``) over time.

The suite's own traffic is not usage: telemetry whose ``service.name`` starts with
``conformance-`` and usage rows the suite tagged (``gateway_conformance_check``) or sent
with its own user agent are left out. Values are shown in human units: durations in
seconds, minutes or hours by size, tokens as k/M.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import plotly.graph_objects as go
import pyarrow.compute as pc

from gateway_conformance.gateway.ledger import SUITE_AGENT
from gateway_conformance.gateway.usage.recorder import USAGE_KIND
from gateway_conformance.gateway.usage.tags import SUITE_TAG
from gateway_conformance.report.sources import LedgerSource, Tables, TableSource, read_ledger

METRIC_COLUMNS = ("name", "metric_type", "sum", "gauge", "resource")
LOG_COLUMNS = ("event_name", "body", "attributes", "time_unix_nano", "observed_time_unix_nano", "resource")
USAGE_COLUMNS = ("event_time", "requester", "agent", "endpoint_name", "status_code", "total_tokens",
                 "api_type", "request_tags")
#: ``service.name`` prefix of the suite's own telemetry (conformance/test_otlp_sink.py).
SUITE_SERVICE_PREFIX = "conformance-"
EVENT_PREFIX = "claude_code."
# Bucket widths in seconds; the first that yields at most _MAX_BUCKETS buckets is used.
_BUCKETS = (1, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
_MAX_BUCKETS = 60
_LABEL = "%Y-%m-%d %H:%M:%S"  # bucket starts, UTC; plotly reads it as a date

ChartKind = Literal["time", "category", "histogram"]


@dataclass
class Series:
    name: str
    x: list[Any]
    y: list[float]


@dataclass
class Chart:
    """One chart: stable ``id`` (DOM id on the page), data, provenance, or why it is empty."""

    id: str
    title: str
    source: str
    kind: ChartKind
    y_title: str
    x_title: str = ""
    series: list[Series] = field(default_factory=list)
    empty: str | None = None
    stacked: bool = False
    bucket_s: int = 0          # time charts: the width of one bar
    horizontal: bool = False   # long category labels read better down the side
    value_format: str = ""     # plotly tickformat of the value axis ("~s": 1.2k, 3M)

    @property
    def point_count(self) -> int:
        return sum(len(s.x) for s in self.series)

    @property
    def total(self) -> float:
        """Sum of the plotted values (for a histogram: how many values)."""
        if self.kind == "histogram":
            return float(self.point_count)
        return float(sum(sum(s.y) for s in self.series))


@dataclass
class Kpi:
    id: str
    label: str
    value: float | None
    unit: str = ""

    @property
    def text(self) -> str:
        """The value in human units: a duration by its size, tokens as k/M, dollars, counts."""
        if self.value is None:
            return "\u2014"
        if self.unit == "s":
            return human_duration(self.value)
        if self.unit == "USD":
            return f"${self.value:,.4f}" if self.value < 10 else f"${self.value:,.2f}"
        if self.unit == "tokens":
            return human_count(self.value)
        return f"{self.value:,.0f}" if float(self.value).is_integer() else f"{self.value:,.1f}"


def human_duration(seconds: float) -> str:
    """``42.8 s``, ``12.5 min``, ``3.2 h``, ``2.1 d``."""
    for unit, size, limit in (("s", 1, 120), ("min", 60, 7200), ("h", 3600, 172_800)):
        if abs(seconds) < limit:
            value = seconds / size
            return f"{value:,.0f} {unit}" if float(value).is_integer() else f"{value:,.1f} {unit}"
    return f"{seconds / 86400:,.1f} d"


def human_count(value: float) -> str:
    """``950``, ``8.0k``, ``1.2M``, ``3.4B``."""
    for suffix, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


@dataclass
class Dashboard:
    charts: list[Chart]
    kpis: list[Kpi]
    sources: list[str]
    bucket_s: int

    @property
    def bucket_text(self) -> str:
        """The bar width in words (``1 s``, ``5 min``, ``6 h``)."""
        return human_duration(self.bucket_s)


# ----- reading points ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    time_ns: int
    value: float
    attributes: dict[str, str]
    resource: dict[str, str]


def _as_dict(pairs: Any) -> dict[str, str]:
    if not pairs:
        return {}
    if isinstance(pairs, dict):
        return {str(k): v for k, v in pairs.items() if v is not None}
    return {str(k): v for k, v in pairs if v is not None}


def _resource(row: dict[str, Any]) -> dict[str, str]:
    return _as_dict((row.get("resource") or {}).get("attributes"))


def is_suite_telemetry(resource: dict[str, str]) -> bool:
    """The suite's own exports (``service.name=conformance-*``): not anyone's usage."""
    return (resource.get("service.name") or "").startswith(SUITE_SERVICE_PREFIX)


def metric_points(metrics: TableSource, name: str) -> list[Point]:
    """The increments of counter ``name`` (sum or gauge points), cumulative ones differenced."""
    if metrics.rows is None or metrics.rows.num_rows == 0:
        return []
    rows = metrics.rows.filter(pc.equal(metrics.rows["name"], name)).to_pylist()
    streams: dict[tuple[Any, ...], list[tuple[int, float, bool, dict[str, str], dict[str, str]]]] = \
        defaultdict(list)
    for row in rows:
        kind = (row.get("metric_type") or "").lower()
        data = row.get(kind) if kind in ("sum", "gauge") else row.get("sum") or row.get("gauge")
        if not data or data.get("value") is None or not math.isfinite(data["value"]):
            continue
        attributes, resource = _as_dict(data.get("attributes")), _resource(row)
        if is_suite_telemetry(resource):
            continue
        cumulative = "CUMULATIVE" in str(data.get("aggregation_temporality") or "").upper()
        key = (tuple(sorted(attributes.items())), tuple(sorted(resource.items())),
               data.get("start_time_unix_nano") if cumulative else None)
        streams[key].append((data.get("time_unix_nano") or 0, float(data["value"]), cumulative,
                             attributes, resource))
    points: list[Point] = []
    for stream in streams.values():
        stream.sort(key=lambda p: p[0])
        previous = 0.0
        for time_ns, value, cumulative, attributes, resource in stream:
            increment = value - previous if cumulative else value
            previous = value if cumulative else previous
            if cumulative and increment < 0:  # a reset: the counter started again
                increment = value
            points.append(Point(time_ns, increment, attributes, resource))
    return points


def event_name(row: dict[str, Any]) -> str:
    attributes = _as_dict(row.get("attributes"))
    name = row.get("event_name") or attributes.get("event.name") or row.get("body") or ""
    return name.removeprefix(EVENT_PREFIX)


def events(logs: TableSource, name: str) -> list[Point]:
    """Log events ``name`` (``api_request`` or ``claude_code.api_request``) as points of value 1."""
    if logs.rows is None or logs.rows.num_rows == 0:
        return []
    wanted = name.removeprefix(EVENT_PREFIX)
    found = []
    for row in logs.rows.to_pylist():
        if event_name(row) == wanted and not is_suite_telemetry(_resource(row)):
            found.append(Point(row.get("time_unix_nano") or row.get("observed_time_unix_nano") or 0, 1.0,
                               _as_dict(row.get("attributes")), _resource(row)))
    return found


def is_suite_usage(row: dict[str, Any]) -> bool:
    """A usage row (or ledger record) of the suite's own probes: tagged by a check, sent by the
    suite, or a health probe."""
    return (SUITE_TAG in _as_dict(row.get("request_tags")) or row.get("agent") == SUITE_AGENT
            or str(row.get("api_type") or "").endswith(":probe") or row.get("endpoint") == "probe")


def usage_points(usage: TableSource) -> list[Point]:
    """One point per usage row (value: its total tokens), the suite's own rows left out.

    Attributes: ``user`` (the requester), ``agent``, ``model`` (the endpoint asked for), ``status``.
    """
    if usage.rows is None or usage.rows.num_rows == 0:
        return []
    points = []
    for row in usage.rows.to_pylist():
        if is_suite_usage(row):
            continue
        when = row.get("event_time")
        time_ns = int(when.timestamp() * 1e9) if isinstance(when, datetime) else 0
        status = row.get("status_code")
        points.append(Point(time_ns, float(row.get("total_tokens") or 0), {
            "user": row.get("requester") or "(no identity)", "agent": row.get("agent") or "unknown",
            "model": row.get("endpoint_name") or "(none)",
            "status": str(status) if status else "no status (connection)"}, {}))
    return points


def is_error(point: Point) -> bool:
    status = point.attributes.get("status", "")
    return not status.isdigit() or int(status) >= 400


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


# ----- shaping series ---------------------------------------------------------------------------

def bucket_width(times_ns: Iterable[int]) -> int:
    """One bucket width for every time chart, from the span of all the data."""
    times = [t for t in times_ns if t]
    span = (max(times) - min(times)) / 1e9 if times else 0.0
    return next((width for width in _BUCKETS if span / width <= _MAX_BUCKETS), _BUCKETS[-1])


def _bucket_label(time_ns: int, width: int) -> str:
    start = (time_ns // 1_000_000_000) // width * width
    return datetime.fromtimestamp(start, UTC).strftime(_LABEL)


def time_series(points: Iterable[Point], series_of: Callable[[Point], str], width: int) -> list[Series]:
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for point in points:
        sums[series_of(point)][_bucket_label(point.time_ns, width)] += point.value
    return [Series(name, sorted(buckets), [buckets[x] for x in sorted(buckets)])
            for name, buckets in sorted(sums.items())]


def category_series(pairs: Iterable[tuple[str, str, float]]) -> list[Series]:
    """(series, category, value) triples -> one series per name over the shared categories."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for series, category, value in pairs:
        sums[series][category] += value
    return [Series(name, sorted(cats), [cats[c] for c in sorted(cats)])
            for name, cats in sorted(sums.items())]


def _attr(key: str, default: str = "(none)") -> Callable[[Point], str]:
    return lambda point: point.attributes.get(key) or default


def _service(point: Point) -> str:
    return point.resource.get("service.name") or "(unknown service)"


# ----- the charts --------------------------------------------------------------------------------

class _Builder:
    def __init__(self, metrics: TableSource, logs: TableSource, ledger: LedgerSource,
                 usage: TableSource) -> None:
        self.metrics, self.logs, self.ledger, self.usage = metrics, logs, ledger, usage
        self._points: dict[str, list[Point]] = {}
        self._events: dict[str, list[Point]] = {}
        self.usage_points = usage_points(usage)

    def points(self, name: str) -> list[Point]:
        if name not in self._points:
            self._points[name] = metric_points(self.metrics, name)
        return self._points[name]

    def events(self, name: str) -> list[Point]:
        if name not in self._events:
            self._events[name] = events(self.logs, name)
        return self._events[name]

    def width(self, metric_names: Iterable[str]) -> int:
        times = [p.time_ns for name in metric_names for p in self.points(name)]
        times += [_ledger_time_ns(r) for r in self.ledger.records]
        times += [p.time_ns for p in self.usage_points]
        return bucket_width(times)

    def metric_chart(self, chart_id: str, title: str, names: dict[str, Callable[[Point], str]] | str,
                     series_attr: str | None, y_title: str, width: int, *, stacked: bool = True) -> Chart:
        """A counter (or several, one series each) over time, split by an attribute."""
        table = self.metrics.name
        if isinstance(names, str):
            split = _service if series_attr is None else _attr(series_attr)
            series = time_series(self.points(names), split, width)
            split_text = "resource.attributes['service.name']" if series_attr is None else \
                f"sum.attributes['{series_attr}']"
            source = f"{table}: name = '{names}'; sum.value, sum.time_unix_nano, {split_text}"
            wanted = names
        else:
            series = [s for label in names for s in time_series(self.points(label), names[label], width)]
            listed = ", ".join(f"'{n}'" for n in names)
            source = f"{table}: name IN ({listed}); sum.value, sum.time_unix_nano"
            wanted = listed
        chart = Chart(chart_id, title, source, "time", y_title, "", series, stacked=stacked, bucket_s=width,
                      value_format="~s" if y_title == "tokens" else "")
        if not series:
            chart.empty = self.metrics.missing or f"no {wanted} data points in {table} yet"
        return _human_time(chart)

    def usage_charts(self, width: int) -> list[Chart]:
        """Requests, tokens and errors, each by user, by agent/tool and by model, over time."""
        table = self.usage.name
        charts = []
        measures = (("requests", "requests", "requests", lambda p: True, False),
                    ("tokens", "tokens", "tokens", lambda p: True, True),
                    ("errors", "errors", "errors (status >= 400)", is_error, False))
        dims = (("user", "user", "requester"), ("agent", "agent / tool", "agent"),
                ("model", "model", "endpoint_name"))
        for key, label, column in dims:
            for measure, y_title, what, keep, tokens in measures:
                points = [p if tokens else Point(p.time_ns, 1.0, p.attributes, p.resource)
                          for p in self.usage_points if keep(p)]
                value = "sum(total_tokens)" if tokens else "count(*)"
                if measure == "errors":
                    value += " where status_code >= 400 or status_code = 0"
                chart = Chart(f"chart-usage-{measure}-by-{key}", f"Gateway {measure} by {label}",
                              f"{table}: {value}, event_time, {column} (suite probes excluded)", "time",
                              y_title, series=time_series(points, _attr(key), width), stacked=True,
                              bucket_s=width, value_format="~s" if tokens else "")
                if not chart.series:
                    chart.empty = self.usage.missing or (
                        f"no {what} in {table} yet" if self.usage_points or measure != "errors"
                        else f"no rows in {table} yet")
                charts.append(chart)
        return charts

    def event_chart(self, chart: Chart, name: str, series: list[Series]) -> Chart:
        chart.series = series
        if not series:
            chart.empty = self.logs.missing or f"no {EVENT_PREFIX}{name} events in {self.logs.name} yet"
        return chart


def build_dashboard(metrics: TableSource, logs: TableSource, ledger: LedgerSource,
                    usage: TableSource | None = None) -> Dashboard:
    usage = usage or TableSource(USAGE_KIND, "usage table", missing="no usage table read")
    ledger = LedgerSource(ledger.name, [r for r in ledger.records if not is_suite_usage(r)], ledger.missing)
    b = _Builder(metrics, logs, ledger, usage)
    counters = ("claude_code.session.count", "claude_code.active_time.total", "claude_code.token.usage",
                "claude_code.cost.usage", "claude_code.lines_of_code.count", "claude_code.commit.count",
                "claude_code.pull_request.count")
    width = b.width(counters)
    lt, ln = logs.name, ledger.name
    charts = [
        b.metric_chart("chart-sessions", "Sessions", "claude_code.session.count", None, "sessions", width),
        b.metric_chart("chart-active-time", "Active time by type", "claude_code.active_time.total", "type",
                       "seconds", width),
        b.metric_chart("chart-tokens-by-type", "Tokens by type", "claude_code.token.usage", "type",
                       "tokens", width),
        b.metric_chart("chart-tokens-by-model", "Tokens by model", "claude_code.token.usage", "model",
                       "tokens", width),
        b.metric_chart("chart-cost", "Cost by model", "claude_code.cost.usage", "model", "USD", width),
        b.metric_chart("chart-lines-of-code", "Lines of code added / removed",
                       "claude_code.lines_of_code.count", "type", "lines", width, stacked=False),
        b.metric_chart("chart-commits-prs", "Commits and pull requests",
                       {"claude_code.commit.count": lambda _: "commits",
                        "claude_code.pull_request.count": lambda _: "pull requests"},
                       None, "count", width, stacked=False),
        b.event_chart(
            Chart("chart-tool-decisions", "Tool decisions by tool",
                  f"{lt}: event claude_code.tool_decision; attributes['tool_name'], attributes['decision']",
                  "category", "decisions", "tool", stacked=True),
            "tool_decision",
            category_series((p.attributes.get("decision") or "(none)",
                             p.attributes.get("tool_name") or "(none)", 1.0)
                            for p in b.events("tool_decision"))),
        b.event_chart(
            Chart("chart-api-latency", "API request latency",
                  f"{lt}: event claude_code.api_request; attributes['duration_ms'], attributes['model']",
                  "histogram", "requests", "duration (ms)"),
            "api_request", _latency_series(b.events("api_request"))),
        b.event_chart(
            Chart("chart-api-errors", "API errors by status",
                  f"{lt}: event claude_code.api_error; attributes['status_code'], attributes['model']",
                  "category", "errors", "HTTP status", stacked=True),
            "api_error",
            category_series((p.attributes.get("model") or "(none)",
                             p.attributes.get("status_code") or "no status (connection)", 1.0)
                            for p in b.events("api_error"))),
        *b.usage_charts(width),
        _ledger_requests(ledger, ln),
        _ledger_rate_limits(ledger, ln, width),
    ]
    return Dashboard(charts=charts, kpis=_kpis(b), bucket_s=width,
                     sources=[f"metrics: {metrics.name} ({metrics.count} rows)",
                              f"logs: {logs.name} ({logs.count} rows)",
                              f"usage: {usage.name} ({usage.count} rows, {len(b.usage_points)} not the "
                              f"suite's own)",
                              f"ledger: {ledger.name} ({len(ledger.records)} records)"])


def _human_time(chart: Chart) -> Chart:
    """A chart in seconds re-expressed in minutes or hours when its bars are that tall."""
    if chart.y_title != "seconds" or not chart.series:
        return chart
    stacks: dict[Any, float] = defaultdict(float)
    for s in chart.series:
        for x, y in zip(s.x, s.y, strict=True):
            stacks[x] += y
    tallest = max(stacks.values(), default=0.0)
    unit, size = ("hours", 3600) if tallest >= 7200 else ("minutes", 60) if tallest >= 120 else ("seconds", 1)
    chart.y_title = unit
    chart.series = [Series(s.name, s.x, [y / size for y in s.y]) for s in chart.series]
    return chart


def _latency_series(points: list[Point]) -> list[Series]:
    values: dict[str, list[float]] = defaultdict(list)
    for point in points:
        duration = _number(point.attributes.get("duration_ms"))
        if duration is not None:
            values[point.attributes.get("model") or "(none)"].append(duration)
    return [Series(model, sorted(vs), [1.0] * len(vs)) for model, vs in sorted(values.items())]


def _ledger_time_ns(record: dict[str, Any]) -> int:
    """Ledger records carry ``started_at`` in epoch seconds."""
    return int((_number(str(record.get("started_at"))) or 0.0) * 1e9)


def _ledger_requests(ledger: LedgerSource, name: str) -> Chart:
    chart = Chart("chart-ledger-requests", "Gateway requests by agent, model and status",
                  f"{name}: agent, model, status (one record per request)", "category", "requests",
                  "agent / model", stacked=True, horizontal=True)
    chart.series = category_series(
        (str(r.get("status") or "no status"),
         f"{r.get('agent') or 'unknown'} / {r.get('model') or '(none)'}", 1.0)
        for r in ledger.records)
    if not chart.series:
        chart.empty = ledger.missing or f"no records in {name} yet"
    return chart


def _ledger_rate_limits(ledger: LedgerSource, name: str, width: int) -> Chart:
    chart = Chart("chart-ledger-rate-limits", "Rate-limit rejections (429) by agent",
                  f"{name}: started_at, agent where status = 429", "time", "rejections",
                  stacked=True, bucket_s=width)
    rejected = [r for r in ledger.records if r.get("status") == 429]
    chart.series = time_series(
        (Point(_ledger_time_ns(r), 1.0, {"agent": str(r.get("agent") or "unknown")}, {}) for r in rejected),
        _attr("agent"), width)
    if not chart.series:
        chart.empty = ledger.missing or f"no 429 rejections among the {len(ledger.records)} records of {name}"
    return chart


def _kpis(b: _Builder) -> list[Kpi]:
    def total(name: str, **match: str) -> float | None:
        points = [p for p in b.points(name) if all(p.attributes.get(k) == v for k, v in match.items())]
        return sum(p.value for p in points) if points else None

    def count(items: list[Any]) -> float | None:
        return float(len(items)) if items else None

    ledger = b.ledger.records
    return [
        Kpi("kpi-sessions", "sessions", total("claude_code.session.count")),
        Kpi("kpi-active-time", "active time", total("claude_code.active_time.total"), "s"),
        Kpi("kpi-tokens", "tokens", total("claude_code.token.usage"), "tokens"),
        Kpi("kpi-cost", "cost", total("claude_code.cost.usage"), "USD"),
        Kpi("kpi-lines-added", "lines added", total("claude_code.lines_of_code.count", type="added")),
        Kpi("kpi-lines-removed", "lines removed", total("claude_code.lines_of_code.count", type="removed")),
        Kpi("kpi-commits", "commits", total("claude_code.commit.count")),
        Kpi("kpi-pull-requests", "pull requests", total("claude_code.pull_request.count")),
        Kpi("kpi-api-requests", "API requests (events)", count(b.events("api_request"))),
        Kpi("kpi-api-errors", "API errors (events)", count(b.events("api_error"))),
        Kpi("kpi-gateway-requests", "gateway requests", count(ledger) if b.ledger.missing is None else None),
        Kpi("kpi-rate-limited", "rate-limited (429)",
            float(sum(1 for r in ledger if r.get("status") == 429)) if ledger else None),
        Kpi("kpi-usage-requests", "requests (usage table)", count(b.usage_points)),
        Kpi("kpi-usage-tokens", "tokens (usage table)",
            sum(p.value for p in b.usage_points) if b.usage_points else None, "tokens"),
        Kpi("kpi-usage-errors", "errors (usage table)",
            float(sum(1 for p in b.usage_points if is_error(p))) if b.usage_points else None),
        Kpi("kpi-usage-users", "users", count(sorted({p.attributes["user"] for p in b.usage_points}))),
    ]


def load_dashboard(tables_dir: str | Path | None, table_prefix: str, *, catalog: str | None = None,
                   schema: str | None = None, ledger: str | Path | None = None, engine: str = "deltalake",
                   spark_remote: str | None = None) -> Dashboard:
    """Read the tables (through ``engine``) and the ledger, and build every chart."""
    tables = Tables(Path(tables_dir) if tables_dir is not None else None, table_prefix, catalog, schema,
                    engine, spark_remote)
    try:
        metrics = tables.read("metrics", METRIC_COLUMNS)
        logs = tables.read("logs", LOG_COLUMNS)
        usage = tables.read(USAGE_KIND, USAGE_COLUMNS)
    finally:
        tables.close()
    return build_dashboard(metrics, logs, read_ledger(ledger), usage)


# ----- plotly --------------------------------------------------------------------------------------

def _nice_step(span: float, bins: int = 12) -> float:
    """A 1-2-5 step that cuts ``span`` into about ``bins`` bins."""
    raw = max(span / bins, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    return next(power * m for m in (1, 2, 5, 10) if power * m >= raw)


def figure(chart: Chart) -> go.Figure:
    """The chart as a plotly figure (never called for an empty chart)."""
    fig = go.Figure()
    values = [v for s in chart.series for v in s.x] if chart.kind == "histogram" else []
    step = _nice_step(max(values) - min(values)) if values else 1.0
    # Time bars start at their bucket and fill 80% of it, side by side when grouped.
    slots = 1 if chart.stacked else max(len(chart.series), 1)
    bar_ms = chart.bucket_s * 1000 * 0.8 / slots
    for i, s in enumerate(chart.series):
        if chart.kind == "histogram":
            start = math.floor(min(values) / step) * step
            fig.add_trace(go.Histogram(x=s.x, name=s.name, xbins={"start": start, "size": step,
                                                                   "end": max(values) + step}))
        elif chart.horizontal:
            fig.add_trace(go.Bar(x=s.y, y=s.x, name=s.name, orientation="h"))
        elif chart.kind == "time":
            fig.add_trace(go.Bar(x=s.x, y=s.y, name=s.name, width=bar_ms,
                                 offset=0 if chart.stacked else i * bar_ms))
        else:
            fig.add_trace(go.Bar(x=s.x, y=s.y, name=s.name))
    value_axis: dict[str, Any] = {"title": chart.y_title}
    if chart.value_format:
        value_axis["tickformat"] = chart.value_format
    label_axis = {"title": chart.x_title or None}
    fig.update_layout(
        template="plotly_white",
        height=300,
        margin={"l": 56, "r": 16, "t": 36, "b": 44},
        barmode="stack" if chart.stacked or chart.kind == "histogram" else "group",
        bargap=0.08 if chart.kind == "histogram" else 0.2,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        showlegend=True,
        xaxis=value_axis if chart.horizontal else label_axis,
        yaxis=label_axis if chart.horizontal else value_axis,
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
    )
    if chart.kind == "time":
        buckets = sorted({x for s in chart.series for x in s.x})
        pad = timedelta(seconds=chart.bucket_s)
        first = datetime.strptime(buckets[0], _LABEL).replace(tzinfo=UTC) - pad
        last = datetime.strptime(buckets[-1], _LABEL).replace(tzinfo=UTC) + 2 * pad
        fig.update_xaxes(type="date", range=[first.strftime(_LABEL), last.strftime(_LABEL)])
    elif chart.horizontal:
        fig.update_yaxes(type="category", automargin=True)
    elif chart.kind == "category":
        fig.update_xaxes(type="category")
    return fig
