"""The self-contained HTML report: headline, findings with fixes, the client inventory, drill-downs, charts.

Everything taken from a log is untrusted. The page is rendered by Jinja2 with autoescaping, and the data
its scripts use sits in one JSON block whose `<`, `>` and `&` are escaped, so no log text can close the
script or become markup; the scripts insert it with `textContent`, never as HTML. Tables and charts are
cut to the top rows and aggregated, so the page stays a few MB whatever the size of the log.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import plotly.graph_objects as go
import plotly.offline
import polars as pl
from jinja2 import Environment, select_autoescape

from ..analysis import Analysis
from ..detectors import SERVER_LEVEL, SEVERITIES
from ..flows import STATUS_CLASSES
from ..flows.rules import followed_within
from ..timestamps import iso
from .json_report import client_frame, clients_where

MAX_CLIENTS = 100_000  # MCP clients in the page's table (paged, filtered and sorted in the browser)
MAX_ARCHITECTURES = 300
MAX_DRILLDOWNS = 60  # clients with a drill-down and a timeline (failing ones first)
TIMELINES_SHOWN = 12  # drawn at first; the rest one click away
MAX_ATTEMPTS_SHOWN = 400  # per client timeline
OUTCOME_COLOURS = {"connected": "#2e7d32", "degraded": "#f9a825", "failing": "#e65100", "stuck": "#c62828", "not-mcp": "#9e9e9e"}


def safe_json(value: Any) -> str:
    """JSON that can sit inside <script> whatever strings it holds."""
    text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@cache
def _environment() -> Environment:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson_safe"] = safe_json
    return env


@cache
def _template_text() -> str:
    return resources.files("logscope.data").joinpath("report.html.j2").read_text("utf-8")


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """How many clients are stuck, since when, and the one change that fixes the most."""
    stuck = clients_where(report, "stuck")
    since = min((c["stuck_since"] for c in stuck if c["stuck_since"]), default=None)
    actionable = [f for f in report["findings"] if f["severity"] != "info" and f["code"] not in SERVER_LEVEL]
    best = max(actionable, key=lambda f: (len(f["clients"]), -SEVERITIES.index(f["severity"])), default=None)
    if best is None:
        best = next((f for f in report["findings"] if f["severity"] != "info"), None)
    return {"stuck": len(stuck), "since": since, "mcp_clients": report["totals"]["mcp_clients"], "best": best}


def _typical_failed_attempts(analysis: Analysis, client_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per client: its attempts (start, success, status) and the request flow its failed attempts most often take."""
    # Only the chosen clients' rows are read (from disk, for a log read in shards).
    attempts = analysis.scan_attempts().filter(pl.col("client_id").is_in(client_ids)).collect()
    requests = (
        analysis.scan_requests()
        .select("client_id", "attempt", "start", "seq", "method", "path", "status")
        .filter(pl.col("client_id").is_in(client_ids) & pl.col("attempt").is_not_null())
        .collect()
    )
    step = pl.concat_str(
        pl.col("method").fill_null("-"), pl.lit(" "), pl.col("path").fill_null("-"), pl.lit(" "), pl.col("status").cast(pl.String)
    )
    flows = (
        requests.sort("attempt", "start", "seq")
        .group_by("attempt", maintain_order=True)
        .agg(pl.col("client_id").first(), step.head(8).str.join(" → ").alias("flow"))
        .join(attempts.select("attempt", "success", "counted"), on="attempt")
        .filter(pl.col("counted"))
    )
    # The most frequent failing flow; equally frequent ones by their text, so the page is the same every run.
    typical = (
        flows.filter(~pl.col("success"))
        .group_by("client_id", "flow")
        .len()
        .sort(["len", "flow"], descending=[True, False])
        .unique("client_id", keep="first", maintain_order=True)
    )
    attempts = attempts.filter(pl.col("counted")).sort("start")
    out: dict[str, dict[str, Any]] = {cid: {"attempts": [], "typical": None, "typical_count": 0} for cid in client_ids}
    for cid, flow, n in typical.iter_rows():
        out[cid]["typical"], out[cid]["typical_count"] = flow, n
    per_client = attempts.group_by("client_id").agg(
        pl.col("start").head(MAX_ATTEMPTS_SHOWN),
        pl.col("success").head(MAX_ATTEMPTS_SHOWN),
        pl.col("deciding_status").head(MAX_ATTEMPTS_SHOWN),
    )
    for cid, starts, successes, statuses in per_client.iter_rows():
        out[cid]["attempts"] = [[iso(s), bool(ok), st] for s, ok, st in zip(starts, successes, statuses, strict=True)]
    return out


def _charts(analysis: Analysis) -> dict[str, str]:
    """Plotly figures as JSON: attempts over time by outcome, status classes by architecture, transport mix."""
    charts: dict[str, str] = {}
    attempts = analysis.scan_attempts().filter(pl.col("counted"))
    layout = {"margin": {"l": 40, "r": 10, "t": 30, "b": 40}, "height": 320, "legend": {"orientation": "h"}}
    first, last = attempts.select(pl.col("start").min(), pl.col("start").max().alias("end")).collect().row(0)
    if first is not None:
        bucket = "1h" if (last - first).total_seconds() > 6 * 3600 else "5m"
        counts = (
            attempts.group_by(pl.col("start").dt.truncate(bucket).alias("t"))
            .agg(pl.col("success").sum().alias("successful"), (~pl.col("success")).sum().alias("failed"))
            .sort("t")
            .collect()
        )
        fig = go.Figure(
            [
                go.Bar(x=counts["t"].to_list(), y=counts["successful"].to_list(), name="successful", marker_color="#2e7d32"),
                go.Bar(x=counts["t"].to_list(), y=counts["failed"].to_list(), name="failed", marker_color="#c62828"),
            ],
            layout={**layout, "barmode": "stack", "title": f"Attempts per {'hour' if bucket == '1h' else '5 minutes'}"},
        )
        charts["attempts"] = fig.to_json()
    arch = analysis.architectures.filter(pl.col("mcp")).head(10).select("architecture", "label")
    if arch.height:
        # The clients already count their endpoint answers by class: sum them per architecture.
        classes = [f"endpoint_{k}xx" for k in STATUS_CLASSES]
        statuses = (
            analysis.clients.join(arch, on="architecture")
            .group_by("label")
            .agg(pl.col(classes).sum())
            .unpivot(classes, index="label", variable_name="class", value_name="len")
            .with_columns(pl.col("class").str.slice(9, 1).cast(pl.Int64))
            .filter(pl.col("len") > 0)
            .sort("label")
        )
        fig = go.Figure(layout={**layout, "barmode": "stack", "title": "Endpoint status codes by architecture", "height": 360})
        for cls, colour in ((2, "#2e7d32"), (3, "#1565c0"), (4, "#e65100"), (5, "#6a1b9a")):
            part = statuses.filter(pl.col("class") == cls)
            fig.add_bar(y=part["label"].to_list(), x=part["len"].to_list(), name=f"{cls}xx", orientation="h", marker_color=colour)
        fig.update_yaxes(automargin=True)
        charts["statuses"] = fig.to_json()
    by_arch = _attempts_by_architecture(analysis, attempts, layout)
    if by_arch is not None:
        charts["by_architecture"] = by_arch
    redirects = _redirect_picture(analysis, layout)
    if redirects is not None:
        charts["redirects"] = redirects
    # Sorted: a group-by's order varies from run to run, and the page must not.
    mix = analysis.clients.filter(pl.col("outcome") != "not-mcp").group_by("transport", "outcome").len().sort("transport", "outcome")
    if mix.height:
        fig = go.Figure(layout={**layout, "barmode": "stack", "title": "MCP clients by transport"})
        for outcome, colour in OUTCOME_COLOURS.items():
            part = mix.filter(pl.col("outcome") == outcome)
            if part.height:
                fig.add_bar(x=part["transport"].to_list(), y=part["len"].to_list(), name=outcome, marker_color=colour)
        charts["transport"] = fig.to_json()
    return charts


TOP_ARCHITECTURES = 8  # drawn apart in "attempts by architecture"; the rest are "other"


def _attempts_by_architecture(analysis: Analysis, attempts: pl.LazyFrame, layout: dict[str, Any]) -> str | None:
    """Attempts per hour (or 5 minutes), stacked by the clients' architecture."""
    labels = analysis.architectures.filter(pl.col("mcp")).head(TOP_ARCHITECTURES).select("architecture", "label")
    if labels.height == 0:
        return None
    owner = analysis.clients.select(pl.col("client_id"), "architecture").join(labels, on="architecture", how="left")
    owner = owner.select("client_id", pl.col("label").fill_null("other"))
    span = attempts.select((pl.col("start").max() - pl.col("start").min()).alias("span")).collect().item()
    if span is None:
        return None
    bucket = "1h" if span.total_seconds() > 6 * 3600 else "5m"
    counts = (
        attempts.with_columns(pl.col("client_id").cast(pl.String))
        .join(owner.lazy(), on="client_id", how="left")
        .group_by(pl.col("start").dt.truncate(bucket).alias("t"), "label")
        .len()
        .sort("t", "label")
        .collect()
    )
    fig = go.Figure(
        layout={**layout, "barmode": "stack", "title": f"Attempts per {'hour' if bucket == '1h' else '5 minutes'}, by architecture"}
    )
    for label in [*labels["label"].to_list(), "other"]:
        part = counts.filter(pl.col("label") == label)
        if part.height:
            fig.add_bar(x=part["t"].to_list(), y=part["len"].to_list(), name=label)
    return fig.to_json()


REDIRECT_CODES = [301, 302, 303, 307, 308]
FOLLOW_COLOURS = {"kept the method": "#2e7d32", "turned into GET": "#c62828", "not followed": "#757575"}


def _redirect_picture(analysis: Analysis, layout: dict[str, Any]) -> str | None:
    """Plain-HTTP requests answered with a redirect, by method and code, and what the client sent next: the
    same method to the target, a GET instead, or nothing (within the attempt gap). A log read in shards is
    counted shard by shard (a request's neighbours are numbered within its shard)."""
    columns = ["seq", "ts", "method", "path", "status", "location", "scheme_eff", "next_seq"]
    gap = analysis.flows.options.attempt_gap_s
    if analysis.sharded is None:
        counts = _redirects_followed(analysis.flows.requests.select(columns), gap)
    else:
        # One shard's columns in memory at a time: the page of a log read in shards must not hold them all.
        sharded = analysis.sharded
        counts = pl.concat(
            [_redirects_followed(pl.scan_parquet(sharded.path("annotated", i)).select(columns).collect(), gap) for i in sharded.written]
        )
    if counts.height == 0:
        return None
    counts = counts.group_by("x", "what").agg(pl.col("len").sum()).sort("x")
    fig = go.Figure(layout={**layout, "barmode": "stack", "title": "Plain-HTTP requests redirected, and what the client sent next"})
    for kind, colour in FOLLOW_COLOURS.items():
        part = counts.filter(pl.col("what") == kind)
        if part.height:
            fig.add_bar(x=part["x"].to_list(), y=part["len"].to_list(), name=kind, marker_color=colour)
    return fig.to_json()


def _redirects_followed(requests: pl.DataFrame, gap_s: float) -> pl.DataFrame:
    """(method and code, what followed, count) of one frame of annotated requests (`next_seq` indexes it)."""
    from ..flows import location_path, neighbours

    redirected = requests.filter(pl.col("status").is_in(REDIRECT_CODES) & (pl.col("scheme_eff") == "http"))
    rows = neighbours(redirected, requests, "next", ["method", "path", "ts"])
    target = pl.coalesce(location_path(), pl.col("path")).cast(pl.String)
    soon = followed_within(pl.col("ts"), pl.col("next_ts"), gap_s)
    followed = soon & (
        (pl.col("next_path").cast(pl.String) == target) | (pl.col("next_path").cast(pl.String) == pl.col("path").cast(pl.String))
    )
    what = (
        pl.when(followed & (pl.col("next_method") == pl.col("method")))
        .then(pl.lit("kept the method"))
        .when(followed & (pl.col("next_method") == "GET"))
        .then(pl.lit("turned into GET"))
        .otherwise(pl.lit("not followed"))
    )
    label = pl.concat_str(pl.col("method").cast(pl.String).fill_null("-"), pl.lit(" "), pl.col("status").cast(pl.String))
    return rows.select(label.alias("x"), what.fill_null("not followed").alias("what")).group_by("x", "what").len()


#: The client table's columns in the page (the JSON report has every field; the page only what it shows).
CLIENT_COLUMNS = (
    "id",
    "ip",
    "user_agent",
    "network_text",
    "transport",
    "outcome",
    "failed_attempts",
    "attempts",
    "stuck_since",
    "modes_text",
)


def _client_columns(clients: pl.DataFrame) -> dict[str, list[Any]]:
    """The clients as columns (one list per field): a page of 50,000 clients stays a few MB."""
    where = pl.concat_str(
        pl.when(pl.col("network_asn").is_not_null()).then(pl.format("AS{}", pl.col("network_asn"))),
        pl.col("network_country"),
        separator=", ",
        ignore_nulls=True,
    )
    network_text = pl.col("network").fill_null("") + pl.when(where != "").then(pl.format(" ({})", where)).otherwise(pl.lit(""))
    table = clients.with_columns(network_text.alias("network_text"), pl.col("failure_modes").list.join(", ").alias("modes_text"))
    return table.select(CLIENT_COLUMNS).to_dict(as_series=False)


def _others(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Clients that never spoke MCP (browsers, crawlers, scanners), summarised by architecture."""
    rows = [a for a in report["architectures"] if set(a["outcomes"]) == {"not-mcp"}]
    return [
        {"label": a["label"], "kind": a["kind"], "clients": a["clients"], "ips": a["ips"], "requests": a["requests"]}
        for a in rows[:MAX_ARCHITECTURES]
    ]


def render_html(analysis: Analysis, report: dict[str, Any]) -> str:
    """The whole page as one string (Plotly's script included once)."""
    every = client_frame(report)
    mcp = every.filter(pl.col("outcome") != "not-mcp")
    clients = mcp.head(MAX_CLIENTS)
    # Only the clients drilled into become dicts; the table goes to the page as columns.
    outcome = pl.col("outcome")
    focused = clients.filter(outcome.is_in(["stuck", "failing", "degraded"])).head(MAX_DRILLDOWNS)
    focused = pl.concat([focused, clients.filter(outcome == "connected").head(max(0, MAX_DRILLDOWNS - focused.height) // 4)])
    drilldown = _typical_failed_attempts(analysis, focused["id"].to_list())
    timeline = [
        {
            "id": c["id"],
            "label": f"{c['ip']}  {c['user_agent'] if c['user_agent'] is not None else '(no User-Agent)'}",
            "outcome": c["outcome"],
            "typical": drilldown[c["id"]]["typical"],
            "attempts": drilldown[c["id"]]["attempts"],
        }
        for c in focused.filter(outcome.is_in(["stuck", "failing"])).select("id", "ip", "user_agent", "outcome").to_dicts()
        if c["id"] in drilldown
    ]
    data = {
        "architectures": [a for a in report["architectures"] if set(a["outcomes"]) - {"not-mcp"}][:MAX_ARCHITECTURES],
        "architectures_total": report["totals"]["mcp_architectures"],
        "clients": _client_columns(clients),
        "clients_total": mcp.height,
        "others": _others(report),
        "others_clients": every.height - mcp.height,
        "timeline": timeline,
        "drilldown": drilldown,
        "charts": {k: orjson.loads(v) for k, v in _charts(analysis).items()},
    }
    template = _environment().from_string(_template_text())
    return template.render(
        report=report,
        headline=headline(report),
        findings=report["findings"],
        severities=SEVERITIES,
        timelines_shown=TIMELINES_SHOWN,
        data=data,
        plotly_js=plotly.offline.get_plotlyjs(),
    )


def write_html(analysis: Analysis, report: dict[str, Any], path: str | Path) -> Path:
    target = Path(path)
    target.write_text(render_html(analysis, report), encoding="utf-8")
    return target
