"""The rules module (logscope.flows.rules) and the watch's carry, unit by unit.

The aggregates are partial -> combine -> finish: the partials of any split of an attempt's (or a client's)
requests, combined, must finish to what the partial of all of them finishes to. That is what lets the whole
log, the shards and `logscope watch` (which folds requests it no longer holds into partials) agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from logscope.analysis import analyze
from logscope.flows import FlowOptions, build_flows, rules
from logscope.ingest import Ingest
from logscope.live.carry import carry_into, empty_carry, fold
from logscope.schema import CANONICAL, CODED

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)

# One attempt of the seed's stuck client as the log shows it, then a teardown and a stream (what the SDKs send):
# POST 301, the body-less GET 400, the POST again over HTTPS 200, its notification 202, a DELETE 200 teardown.
ATTEMPT = [
    # (seconds, role, method, status, scheme, path)
    (0.0, "endpoint", "POST", 301, "http", "/mcp"),
    (0.1, "endpoint", "GET", 400, "http", "/mcp"),
    (0.3, "auth", "GET", 404, "https", "/.well-known/oauth-protected-resource"),
    (0.5, "endpoint", "POST", 200, "https", "/mcp"),
    (0.6, "endpoint", "POST", 202, "https", "/mcp"),
    (0.9, "endpoint", "GET", 200, "https", "/mcp"),
    (1.2, "endpoint", "DELETE", 200, "https", "/mcp"),
]


def attempt_rows(rows: list[tuple[float, str, str, int, str | None, str]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "seq": list(range(len(rows))),
            "client_id": ["c1"] * len(rows),
            "start": [T0 + timedelta(seconds=r[0]) for r in rows],
            "role": [r[1] for r in rows],
            "method": [r[2] for r in rows],
            "status": [r[3] for r in rows],
            "scheme": [r[4] for r in rows],
            "path": [r[5] for r in rows],
        },
        schema_overrides={"seq": pl.UInt32, "status": CANONICAL["status"], "path": CODED},
    ).with_columns(pl.col("start").alias("ts"))
    return frame.with_columns(rules.sse_paths(frame))


def attempt_of(parts: list[pl.DataFrame]) -> dict:
    """The finished attempt from the partials of `parts`, combined in order."""
    partials = [p.group_by("client_id").agg(rules.attempt_partial(pl.col("scheme"))) for p in parts if p.height]
    combined = pl.concat(partials).group_by("client_id", maintain_order=True).agg(rules.combine_attempts())
    return rules.finish_attempts(combined).drop("last_start", "first_seq").row(0, named=True)


def test_the_last_post_decides_not_the_teardown_nor_the_stream() -> None:
    whole = attempt_of([attempt_rows(ATTEMPT)])
    assert whole["deciding_status"] == 202 and whole["success"] and whole["posted"] and whole["counted"]
    assert whole["first_scheme"] == "http" and whole["reached_https"] and not whole["probe"]
    # Without the POSTs, the last endpoint request decides: the DELETE here.
    gets = attempt_of([attempt_rows([r for r in ATTEMPT if r[2] != "POST"])])
    assert gets["deciding_status"] == 200 and not gets["posted"]
    # The seed's stuck attempt: POST 301, GET 400, and nothing else.
    stuck = attempt_of([attempt_rows(ATTEMPT[:2])])
    assert stuck["deciding_status"] == 301 and not stuck["success"] and stuck["counted"]


@pytest.mark.parametrize("cut", range(1, len(ATTEMPT)))
def test_an_attempt_split_anywhere_combines_to_the_whole(cut: int) -> None:
    rows = attempt_rows(ATTEMPT)
    assert attempt_of([rows[:cut], rows[cut:]]) == attempt_of([rows])
    assert attempt_of([rows[: cut // 2 + 1], rows[cut // 2 + 1 : cut], rows[cut:]]) == attempt_of([rows])


def test_a_discovery_probe_is_known_only_from_all_its_parts() -> None:
    """Discovery and a GET to the endpoint is a probe; a POST or a 401 in any part makes it an attempt."""
    probe = [(0.0, "auth", "GET", 404, "https", "/.well-known/oauth-protected-resource"), (0.1, "endpoint", "GET", 400, "https", "/mcp")]
    rows = attempt_rows(probe)
    assert attempt_of([rows]).get("probe") and not attempt_of([rows])["counted"]
    assert attempt_of([rows[:1], rows[1:]])["probe"]
    for later in [(0.2, "endpoint", "POST", 400, "https", "/mcp"), (0.2, "endpoint", "GET", 401, "https", "/mcp")]:
        more = attempt_rows([*probe, later])
        assert not attempt_of([more[:1], more[1:]])["probe"] and attempt_of([more[:1], more[1:]])["counted"]


def test_the_attempt_gap_has_three_named_meanings() -> None:
    gap = 30.0
    later = {"b": timedelta(seconds=30), "c": timedelta(seconds=30, microseconds=1), "d": timedelta(seconds=31)}
    frame = pl.DataFrame({"a": [T0], **{k: [T0 + v] for k, v in later.items()}})
    row = frame.select(
        rules.continues_attempt(pl.col("b"), pl.col("a"), gap).alias("at_gap"),
        rules.continues_attempt(pl.col("c"), pl.col("a"), gap).alias("past_gap"),
        rules.followed_within(pl.col("a"), pl.col("b"), gap).alias("followed"),
        rules.followed_within(pl.col("a"), pl.col("c"), gap).alias("same_second"),
        rules.followed_within(pl.col("a"), pl.col("d"), gap).alias("too_late"),
    ).row(0, named=True)
    # The attempt boundary is exact to the microsecond; "followed within" counts whole seconds.
    assert row == {"at_gap": True, "past_gap": False, "followed": True, "same_second": True, "too_late": False}
    assert rules.closed_before(T0, gap) == T0 - timedelta(seconds=30) and rules.closed_before(None, gap) is None


def test_the_outcome_rule() -> None:
    cases = [(4, 0, 4, "connected"), (3, 1, 4, "degraded"), (0, 3, 3, "stuck"), (0, 2, 2, "failing"), (1, 3, 4, "degraded")]
    frame = pl.DataFrame(cases, schema=["ok", "failed", "total", "want"], orient="row")
    got = frame.select(rules.outcome_rule(pl.col("ok"), pl.col("failed"), pl.col("total"), 3))[:, 0]
    assert got.to_list() == frame["want"].to_list()


def _seed_like_log(path: Path) -> Path:
    """Three clients over 40 minutes: one stuck in the seed's loop, two connecting each minute with a second
    request a second later (a cut at half a second folds half of an attempt)."""
    lines = []
    for m in range(40):
        at, then = ((T0 + timedelta(minutes=m, seconds=s)).strftime("%d/%b/%Y:%H:%M:%S +0000") for s in (0, 1))
        lines += [
            f'203.0.113.7 - - [{at}] "POST /mcp HTTP/1.1" 301 0 "-" "MCP-Client/1.0"\n',
            f'203.0.113.7 - - [{at}] "GET /mcp HTTP/1.1" 400 0 "-" "MCP-Client/1.0"\n',
            f'198.51.100.2 - - [{at}] "POST /mcp HTTP/1.1" 200 10 "-" "python-httpx/0.28.1"\n',
            f'198.51.100.2 - - [{then}] "POST /mcp HTTP/1.1" 202 0 "-" "python-httpx/0.28.1"\n',
            f'192.0.2.9 - - [{at}] "POST /mcp HTTP/1.1" 200 10 "-" "node"\n',
            f'192.0.2.9 - - [{then}] "GET /index.html HTTP/1.1" 200 10 "-" "node"\n',
        ]
    path.write_text("".join(lines))
    return path


@pytest.mark.parametrize("cut_minutes", [0, 7, 19, 33])
def test_folding_into_the_carry_and_adding_it_back_gives_the_whole(tmp_path: Path, cut_minutes: int) -> None:
    """fold moves requests up to a time into the carry's partials; carry_into adds them back to what is
    retained. The clients table must be the whole log's, wherever the cut falls (mid-attempt included)."""
    whole = analyze(_seed_like_log(tmp_path / "a.log"))
    requests = whole.ingest.requests.with_columns(pl.int_range(0, whole.ingest.requests.height, dtype=pl.UInt64).alias("_rid"))
    options = FlowOptions()
    flows = build_flows(Ingest(requests=requests, inputs=whole.ingest.inputs), options)
    flows = carry_into(flows, empty_carry(), {}, options)
    carry, folded = fold(flows, empty_carry(), T0 + timedelta(minutes=cut_minutes, seconds=0.5), [])
    # The stuck client's redirects are never folded (a detector reads them), nor anything after its first one;
    # the others' requests are, up to the cut.
    assert folded.len() > 0 and set(carry["ip"]) == {"198.51.100.2", "192.0.2.9"}
    retained = requests.filter(~pl.col("_rid").is_in(folded.implode()))
    again = carry_into(build_flows(Ingest(requests=retained, inputs=whole.ingest.inputs), options), carry, {}, options)
    columns = ["client_id", "outcome", "attempts", "successful_attempts", "failed_attempts", "requests", "first_seen", "last_seen"]
    assert again.clients.select(columns).sort("client_id").equals(whole.clients.select(columns).sort("client_id"))
    counted = again.attempts.filter("counted").group_by("client_id").agg(pl.col("weight").sum()).sort("client_id")
    assert counted["weight"].sum() == whole.clients["attempts"].sum()
    # The cut fell inside an attempt of the httpx client: its retained half continued the carried one.
    assert again.attempts.filter(pl.col("continued"))["client_id"].to_list() == [
        whole.clients.filter(pl.col("ip") == "198.51.100.2")["client_id"][0]
    ]


def test_client_partials_split_anywhere_combine_to_the_whole(tmp_path: Path) -> None:
    whole = analyze(_seed_like_log(tmp_path / "a.log"))
    requests = whole.flows.requests.with_columns(rules.client_columns(whole.flows.requests))

    def partial(rows: pl.DataFrame) -> pl.DataFrame:
        return (
            rows.group_by(pl.col("client_id").cast(pl.String), maintain_order=True)
            .agg(rules.client_partial(pl.col("scheme_eff")))
            .with_columns(pl.col("ip", "user_agent").cast(pl.String), pl.lit([], pl.List(pl.String)).alias("paths"))
        )

    all_of_it = partial(requests).sort("client_id")
    for cut in (1, requests.height // 3, requests.height - 1):
        combined = rules.combine_clients(partial(requests[:cut]), partial(requests[cut:])).sort("client_id")
        assert combined.equals(all_of_it.select(combined.columns)), cut
