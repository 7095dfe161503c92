"""One self-contained HTML page: the usage dashboard and the conformance matrix.

Self-contained means the page is attached to a review or opened from a CI artifact on a
machine with no network: the styles are inline and plotly.js is embedded once (only when
there is a chart to draw); nothing is fetched at view time. Chart data travels as one JSON
block that a small inline script hands to ``Plotly.newPlot``.

The DOM is part of the contract the browser test checks: each chart is a ``<figure>`` with
a stable id and ``data-state`` (``ok`` / ``empty``, then ``rendered`` or ``error`` once the
script ran), ``data-series-count``, ``data-point-count`` and ``data-total``; matrix cells
carry ``data-row``, ``data-column`` and ``data-outcome``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from plotly.offline import get_plotlyjs

from gateway_conformance import __version__
from gateway_conformance.report.dashboard import Chart, Dashboard, Kpi, figure
from gateway_conformance.report.matrix import conformance_sections
from gateway_conformance.report.results import Report

_CSS = (Path(__file__).parent / "page.css").read_text(encoding="utf-8")

# Runs once plotly.js is loaded: draw every chart, and mark each figure rendered or failed so
# tests (and people) can tell a drawn chart from a broken one.
_DRAW = """
(function () {
  var figures = JSON.parse(document.getElementById('chart-data').textContent);
  Object.keys(figures).forEach(function (id) {
    var holder = document.getElementById(id);
    function failed(err) {
      holder.setAttribute('data-state', 'error');
      console.error('chart ' + id + ' failed: ' + err);
    }
    try {
      Plotly.newPlot(id + '-plot', figures[id].data, figures[id].layout,
                     {displaylogo: false, responsive: true})
        .then(function () { holder.setAttribute('data-state', 'rendered'); }, failed);
    } catch (err) { failed(err); }
  });
})();
"""


def _kpi_html(kpi: Kpi) -> str:
    value = "" if kpi.value is None else repr(kpi.value)
    return (f'<div class="kpi" id="{kpi.id}" data-value="{value}">'
            f'<div class="v">{escape(kpi.text)}</div>'
            f'<div class="l">{escape(kpi.label)}</div></div>')


def _chart_html(chart: Chart) -> str:
    names = json.dumps([s.name for s in chart.series])
    state = "empty" if chart.empty else "ok"
    if chart.empty:
        body = (f'<div class="no-data" data-empty-reason="{escape(chart.empty)}"><div><b>No data yet</b>'
                f"{escape(chart.empty)}</div></div>")
    else:
        body = f'<div class="plot" id="{chart.id}-plot"></div>'
    return (f'<figure class="chart" id="{chart.id}" data-state="{state}" data-kind="{chart.kind}" '
            f'data-series-count="{len(chart.series)}" data-point-count="{chart.point_count}" '
            f'data-total="{chart.total!r}" data-series="{escape(names)}">'
            f'<figcaption><h3>{escape(chart.title)}</h3><p class="source">reads {escape(chart.source)}</p>'
            f"</figcaption>{body}</figure>")


def _json_for_script(text: str) -> str:
    """JSON that cannot end its ``<script>`` element early."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def dashboard_section(dashboard: Dashboard) -> tuple[str, str]:
    """(section HTML, chart-data script) for the dashboard."""
    sources = "".join(f"<li>{escape(source)}</li>" for source in dashboard.sources)
    html = (f'<p class="sources">Time buckets of {dashboard.bucket_text} (UTC). Sources:</p>'
            f'<ul class="sources">{sources}</ul>'
            f'<div class="kpis">{"".join(_kpi_html(k) for k in dashboard.kpis)}</div>'
            f'<div class="charts">{"".join(_chart_html(c) for c in dashboard.charts)}</div>')
    drawn = [c for c in dashboard.charts if not c.empty]
    data = "{" + ",".join(f"{json.dumps(c.id)}:{figure(c).to_json()}" for c in drawn) + "}"
    return html, data


def render_page(*, dashboard: Dashboard | None = None, results: Sequence[Report] = (),
                title: str = "gateway-conformance report") -> str:
    # The verdicts first (and an upgrade's diff right after them), then the details.
    conformance = conformance_sections(results)
    lead = [s for s in conformance if s[0] in ("summary", "diff")]
    sections: list[tuple[str, str, str]] = [*lead]
    scripts = ""
    if dashboard is not None:
        html, data = dashboard_section(dashboard)
        sections.append(("dashboard", "Usage dashboard", html))
        if any(not c.empty for c in dashboard.charts):  # 4.8 MB of JavaScript: only if a chart is drawn
            scripts = (f"<script>{get_plotlyjs()}</script>"
                       f'<script type="application/json" id="chart-data">{_json_for_script(data)}</script>'
                       f"<script>{_DRAW}</script>")
    sections += [s for s in conformance if s not in lead]
    if not sections:
        sections.append(("nothing", "Nothing to show",
                         '<p class="empty">Give --tables-dir for the usage dashboard and/or --results for '
                         "the conformance matrix.</p>"))
    nav = "".join(f'<a href="#{sid}">{escape(stitle.split(":")[0])}</a>' for sid, stitle, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{escape(stitle)}</h2>{html}</section>'
                   for sid, stitle, html in sections)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            f'<header><h1>{escape(title)}</h1>{_tested(results)}<div class="meta">generated {generated} by '
            f"gateway-conformance {__version__}</div></header><nav>{nav}</nav><main>{body}</main>"
            f"{scripts}</body></html>\n")


def _tested(results: Sequence[Report]) -> str:
    """The implementation's name and version (before -> after on an upgrade page), on every page."""
    def label(report: Report) -> str:
        impl = report.implementation
        return " ".join(part for part in (impl.name, impl.version) if part) or "unnamed implementation"
    if not results:
        return ""
    shown = " &rarr; ".join(escape(label(r)) for r in results[-2:])
    return f'<div class="tested" id="implementation-label">{shown}</div>'


def write_page(path: str | os.PathLike[str], *, dashboard: Dashboard | None = None,
               results: Sequence[Report] = (), title: str = "gateway-conformance report") -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(render_page(dashboard=dashboard, results=results, title=title), encoding="utf-8")
    tmp.replace(target)
    return target
