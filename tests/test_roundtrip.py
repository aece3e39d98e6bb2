"""Round trips: records with known values, written in each format, parse back to exactly those values."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from logscope import FormatChoice, read_logs

from .conftest import SAMPLES

UAS = [None, "python-httpx/0.28.1", "MCP-Client/1.0", "claude-code/2.1.204 (cli)", "Mozilla/5.0 (X11; Linux x86_64) Firefox/146.0"]
PATHS = ["/mcp", "/mcp/", "/sse", "/messages/", "/", "/.well-known/oauth-protected-resource/mcp", "/caf%C3%A9"]
IPS = ["158.51.125.197", "54.67.34.241", "2001:db8::7", "::1", "172.69.3.4"]
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-3, minutes=-30))]


def make_records(n: int = 240, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 5, 20, 20, 20, tzinfo=UTC)
    out = []
    for i in range(n):
        ts = start + timedelta(seconds=i * 7 + rng.randint(0, 5), milliseconds=rng.randint(0, 999))
        query = rng.choice([None, "sessionId=3f2a", "a=1&b=two"])
        status = rng.choice([200, 202, 301, 400, 404, 405, 499, 502])
        https = rng.random() < 0.6
        out.append(
            {
                "ts": ts,
                "client_ip": rng.choice(IPS),
                "method": rng.choice(["POST", "GET", "DELETE", "HEAD"]),
                "path": rng.choice(PATHS),
                "query": query,
                "protocol": rng.choice(["HTTP/1.1", "HTTP/2.0"]),
                "scheme": "https" if https else "http",
                "host": rng.choice(["mcp.example.net", "api.example.org"]),
                "status": status,
                "bytes_sent": rng.randint(0, 90000),
                "duration_s": round(rng.uniform(0, 30), 3),
                "user_agent": rng.choice(UAS),
                "referer": rng.choice([None, "https://mcp.example.net/"]),
                "location": f"https://mcp.example.net{rng.choice(PATHS)}" if status in (301, 308) else None,
                "has_authorization": rng.random() < 0.3,
                "offset": rng.choice(OFFSETS),
            }
        )
    return out


RECORDS = make_records()


def target(r: dict[str, Any]) -> str:
    return r["path"] + (f"?{r['query']}" if r["query"] else "")


def dash(value: object) -> str:
    return "-" if value is None else str(value)


# --- writers -------------------------------------------------------------------------------------


def nginx_value(var: str, r: dict[str, Any]) -> str:
    local = r["ts"].astimezone(r["offset"])
    values = {
        "remote_addr": r["client_ip"],
        "remote_user": "-",
        "time_local": local.strftime("%d/%b/%Y:%H:%M:%S %z"),
        "time_iso8601": local.isoformat(timespec="seconds"),
        "msec": f"{r['ts'].timestamp():.3f}",
        "request": f"{r['method']} {target(r)} {r['protocol']}",
        "request_method": r["method"],
        "request_uri": target(r),
        "uri": r["path"],
        "args": r["query"] or "",
        "server_protocol": r["protocol"],
        "status": str(r["status"]),
        "body_bytes_sent": str(r["bytes_sent"]),
        "request_time": f"{r['duration_s']:.3f}",
        "http_referer": dash(r["referer"]),
        "http_user_agent": dash(r["user_agent"]),
        "scheme": r["scheme"],
        "https": "on" if r["scheme"] == "https" else "",
        "host": r["host"],
        "sent_http_location": dash(r["location"]),
        "http_authorization": "Bearer sk-secret-123" if r["has_authorization"] else "-",
        "request_id": "a1b2c3",
    }
    return values[var]


def write_nginx(path: Path, log_format: str) -> None:
    def line(r: dict[str, Any]) -> str:
        return re.sub(r"\$(\w+)", lambda m: nginx_value(m.group(1), r), log_format)

    path.write_text("".join(line(r) + "\n" for r in RECORDS), encoding="utf-8")


def write_caddy(path: Path) -> None:
    lines = []
    for r in RECORDS:
        headers: dict[str, list[str]] = {}
        if r["user_agent"] is not None:
            headers["User-Agent"] = [r["user_agent"]]
        if r["referer"]:
            headers["Referer"] = [r["referer"]]
        if r["has_authorization"]:
            headers["Authorization"] = ["REDACTED"]
        request: dict[str, Any] = {
            "remote_ip": r["client_ip"],
            "remote_port": "5123",
            "client_ip": r["client_ip"],
            "proto": r["protocol"],
            "method": r["method"],
            "host": r["host"],
            "uri": target(r),
            "headers": headers,
        }
        if r["scheme"] == "https":
            request["tls"] = {"resumed": False, "version": 772, "cipher_suite": 4865, "proto": "h2"}
        resp = {"Location": [r["location"]]} if r["location"] else {}
        lines.append(
            json.dumps(
                {
                    "level": "info",
                    "ts": r["ts"].timestamp(),
                    "logger": "http.log.access.log0",
                    "msg": "handled request",
                    "request": request,
                    "duration": r["duration_s"],
                    "size": r["bytes_sent"],
                    "status": r["status"],
                    "resp_headers": resp,
                }
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_traefik(path: Path) -> None:
    lines = []
    for r in RECORDS:
        rec: dict[str, Any] = {
            "ClientHost": r["client_ip"],
            "RequestMethod": r["method"],
            "RequestPath": target(r),
            "RequestProtocol": r["protocol"],
            "RequestScheme": r["scheme"],
            "RequestHost": r["host"],
            "DownstreamStatus": r["status"],
            "DownstreamContentSize": r["bytes_sent"],
            "Duration": round(r["duration_s"] * 1e9),
            "StartUTC": r["ts"].strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
            "level": "info",
            "msg": "",
        }
        if r["user_agent"] is not None:
            rec["request_User-Agent"] = r["user_agent"]
        if r["referer"]:
            rec["request_Referer"] = r["referer"]
        if r["has_authorization"]:
            rec["request_Authorization"] = "REDACTED"
        if r["location"]:
            rec["downstream_Location"] = r["location"]
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_generic(path: Path, spelling: str) -> None:
    lines = []
    for r in RECORDS:
        if spelling == "nginx":  # nginx escape=json style: every value a string
            rec = {
                "time_iso8601": r["ts"].astimezone(r["offset"]).isoformat(timespec="milliseconds"),
                "remote_addr": r["client_ip"],
                "request": f"{r['method']} {target(r)} {r['protocol']}",
                "status": str(r["status"]),
                "body_bytes_sent": str(r["bytes_sent"]),
                "request_time": f"{r['duration_s']:.3f}",
                "http_user_agent": r["user_agent"] or "",
                "http_referer": r["referer"] or "",
                "scheme": r["scheme"],
                "host": r["host"],
                "sent_http_location": r["location"] or "",
                "http_authorization": "Bearer x" if r["has_authorization"] else "",
            }
        else:  # another application's spelling, numbers as numbers, epoch milliseconds
            rec = {
                "@timestamp": round(r["ts"].timestamp() * 1000),
                "ip": r["client_ip"],
                "method": r["method"],
                "path": target(r),
                "protocol": r["protocol"],
                "status_code": r["status"],
                "bytes": r["bytes_sent"],
                "duration_ms": round(r["duration_s"] * 1000),
                "user_agent": r["user_agent"],
                "referrer": r["referer"],
                "scheme": r["scheme"],
                "host": r["host"],
                "location": r["location"],
                "authorization": "Bearer x" if r["has_authorization"] else None,
            }
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- expectations --------------------------------------------------------------------------------

COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
LOG_FORMATS = {
    "combined": COMBINED,
    "combined+timing+scheme": COMBINED + ' $request_time $scheme "$host"',
    "iso+split-request": '$time_iso8601 $remote_addr "$request_method" "$request_uri" $server_protocol $status $body_bytes_sent '
    '$request_time "$http_user_agent" "$http_referer" $https $host "$sent_http_location" "$http_authorization" $request_id',
    "msec+uri+args": '$msec|$remote_addr|$request_method|$uri|$args|$status|$body_bytes_sent|$request_time|$scheme|"$http_user_agent"',
}


def expected(columns: list[str], *, ts_precision: str) -> pl.DataFrame:
    rows = []
    for r in RECORDS:
        row = {c: r[c] for c in columns}
        if "ts" in row:
            row["ts"] = r["ts"].replace(microsecond=0) if ts_precision == "s" else r["ts"]
        rows.append(row)
    return pl.DataFrame(rows).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def compare(frame: pl.DataFrame, columns: list[str], ts_precision: str) -> None:
    want = expected(columns, ts_precision=ts_precision).sort("ts", maintain_order=True)
    got = frame.select(columns)
    for col in columns:
        if col == "duration_s":
            assert got[col].to_list() == pytest.approx(want[col].to_list(), abs=1e-6), col
        else:
            assert got[col].cast(want[col].dtype).to_list() == want[col].to_list(), col


BASE = ["ts", "client_ip", "method", "path", "query", "status", "bytes_sent", "user_agent"]


@pytest.mark.parametrize("name", sorted(LOG_FORMATS))
def test_nginx_log_format_round_trip(tmp_path: Path, name: str) -> None:
    log_format = LOG_FORMATS[name]
    path = tmp_path / "access.log"
    write_nginx(path, log_format)
    ingest = read_logs([path], FormatChoice(log_format=log_format))
    assert ingest.inputs[0].rejected == 0
    columns = list(BASE)
    for var, cols in (
        ("$server_protocol", ["protocol"]),
        ("$request", ["protocol"]),
        ("$http_referer", ["referer"]),
        ("$request_time", ["duration_s"]),
        ("$scheme", ["scheme"]),
        ("$https", ["scheme"]),
        ("$host", ["host"]),
        ("$sent_http_location", ["location"]),
        ("$http_authorization", ["has_authorization"]),
    ):
        if re.search(re.escape(var) + r"\b", log_format):
            columns += [c for c in cols if c not in columns]
    if "$msec" in log_format:
        columns.remove("query")  # $args is empty when there is no query: nginx cannot tell "" from none
        assert ingest.requests.filter(pl.col("query").is_not_null())["query"].to_list() == [r["query"] for r in RECORDS if r["query"]]
    compare(ingest.requests, columns, "ms" if "$msec" in log_format else "s")
    if "$request_id" in log_format:
        assert ingest.requests["request_id"].unique().to_list() == ["a1b2c3"]  # unknown variables become columns
    # The credential is never kept, only whether there was one.
    assert not any("sk-secret" in str(v) for v in ingest.requests.row(0))


def test_apache_logformat_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    write_nginx(path, COMBINED)
    ingest = read_logs([path], FormatChoice(log_format='%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'))
    compare(ingest.requests, [*BASE, "protocol", "referer"], "s")


def test_auto_detected_combined_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    write_nginx(path, COMBINED)
    ingest = read_logs([path])
    assert ingest.inputs[0].format_detail["log_format_name"] == "combined"
    compare(ingest.requests, [*BASE, "protocol", "referer"], "s")


def test_caddy_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "caddy.json"
    write_caddy(path)
    ingest = read_logs([path])
    assert ingest.inputs[0].format == "caddy"
    compare(ingest.requests, [*BASE, "protocol", "scheme", "host", "duration_s", "referer", "location", "has_authorization"], "ms")
    assert set(ingest.requests.filter(pl.col("scheme") == "https")["tls_version"].unique()) == {"TLSv1.3"}


def test_traefik_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "traefik.json"
    write_traefik(path)
    ingest = read_logs([path])
    assert ingest.inputs[0].format == "traefik"
    compare(ingest.requests, [*BASE, "protocol", "scheme", "host", "duration_s", "referer", "location", "has_authorization"], "ms")


@pytest.mark.parametrize("spelling", ["nginx", "app"])
def test_generic_json_round_trip(tmp_path: Path, spelling: str) -> None:
    path = tmp_path / "access.json"
    write_generic(path, spelling)
    ingest = read_logs([path])
    assert ingest.inputs[0].format == "json"
    cols = [*BASE, "protocol", "scheme", "host", "duration_s", "referer", "location", "has_authorization"]
    compare(ingest.requests, cols, "ms")


def test_nginx_escape_json_template(tmp_path: Path) -> None:
    """A JSON log_format given as its own text maps keys through the template's variables."""
    path = tmp_path / "access.json"
    rows = [
        {
            "t": r["ts"].astimezone(r["offset"]).isoformat(timespec="milliseconds"),
            "addr": r["client_ip"],
            "req": f"{r['method']} {target(r)} {r['protocol']}",
            "st": str(r["status"]),
            "sz": str(r["bytes_sent"]),
            "ua": r["user_agent"] or "",
        }
        for r in RECORDS
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")
    template = '{"t":"$time_iso8601","addr":"$remote_addr","req":"$request","st":"$status","sz":"$body_bytes_sent","ua":"$http_user_agent"}'
    ingest = read_logs([path], FormatChoice(log_format=template))
    compare(ingest.requests, BASE, "ms")


def test_field_override_maps_unusual_keys(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text(
        '{"when":"2026-05-20T20:20:00Z","peer":{"addr":"1.2.3.4"},"code":301,"target":"/mcp?x=1","verb":"POST"}\n', encoding="utf-8"
    )
    ingest = read_logs([path], FormatChoice(family="json", fields=("ts=when", "client_ip=peer.addr", "status=code", "path=target")))
    row = ingest.requests.row(0, named=True)
    assert (row["client_ip"], row["status"], row["path"], row["query"], row["method"]) == ("1.2.3.4", 301, "/mcp", "x=1", "POST")
    assert str(row["ts"]) == "2026-05-20 20:20:00+00:00"


def test_caddy_fast_decoder_gives_what_the_general_one_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caddy's number fields are read by Arrow's typed JSON reader; a block it cannot read whole (a string
    status, an ISO time) falls back to the general decoder. Either way the frame is the same."""
    from logscope.formats import jsonlines

    seed = SAMPLES / "mcp-seed.caddy.json"
    odd = tmp_path / "odd.json"
    lines = seed.read_text().splitlines()[:200]
    k = next(i for i, line in enumerate(lines) if '"status":200' in line)
    lines[k] = lines[k].replace('"status":200', '"status":"200"', 1)
    odd.write_text("\n".join(lines) + "\n")
    fast = [read_logs(p) for p in (seed, odd)]
    monkeypatch.setattr(jsonlines, "_read_typed", lambda *args: None)
    general = [read_logs(p) for p in (seed, odd)]
    for a, b in zip(fast, general, strict=True):
        assert a.requests.equals(b.requests)
        assert a.inputs[0].to_json() == b.inputs[0].to_json()
    assert fast[0].requests.height > 6_000


def test_caddy_blocks_are_decoded_from_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean Caddy log takes the fast path for every block, also for blocks whose last line was cut by
    the block size and completed after it (read in 64 KB blocks here), and gives the same frame."""
    from logscope.formats import jsonlines

    seed = SAMPLES / "mcp-seed.caddy.json"
    whole = read_logs(seed)
    calls: list[bool] = []
    typed = jsonlines._read_typed

    def spy(payload: object, *args: object) -> object:
        frame = typed(payload, *args)  # type: ignore[arg-type]
        # The block's own bytes (not its lines stripped and joined again), read whole.
        calls.append(isinstance(payload, bytes) and frame is not None)
        return frame

    monkeypatch.setattr(jsonlines, "_read_typed", spy)
    # The block path, as for standard input or a compressed file (a plain file would be read whole: test_json_files).
    monkeypatch.setattr("logscope.ingest.logs.readable_whole", lambda *args, **kwargs: False)
    blocks = read_logs(seed, block_bytes=64 * 1024)
    expected_blocks = -(-seed.stat().st_size // (64 * 1024))
    assert len(calls) >= expected_blocks - 1 and all(calls)
    assert blocks.requests.equals(whole.requests)


def test_request_line_split_matches_the_request_line_pattern() -> None:
    """Request lines are validated by REQUEST_LINE and cut at their spaces: for any text the parts are
    those the pattern's own captures give."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from logscope.formats.fields import REQUEST_LINE, split_request_line

    matched = []
    word = st.text(alphabet="GETPOSgetpos/x?=*HTP1.2é-_\x16\u00a0", min_size=1, max_size=8)
    method = st.sampled_from(["GET", "POST", "get", "M-1_x", "1GET", ""])
    protocol = st.sampled_from(["", " HTTP/1.1", " HTTP/2.0", " h/1", " HTTP/", " HTTP/1.1 x"])
    valid_ish = st.builds(lambda m, t, p: f"{m} {t}{p}", method, word, protocol)
    line = st.one_of(
        valid_ish, st.builds(" ".join, st.lists(word, min_size=1, max_size=4)), st.text(alphabet="GET /x HTTP/1.1\t", max_size=24)
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(line, min_size=1, max_size=30))
    def check(lines: list[str]) -> None:
        frame = pl.DataFrame({"r": lines}, schema={"r": pl.String})
        split = frame.select(split_request_line(pl.col("r")).alias("s")).unnest("s")
        captured = frame.select(pl.col("r").str.extract_groups(REQUEST_LINE).alias("s")).unnest("s")
        assert split.equals(captured)
        matched.append(captured["method"].drop_nulls().len())

    check()
    assert sum(matched) > 100  # the cases hold many valid request lines, not only junk


def test_work_by_distinct_value_is_the_work_on_every_row() -> None:
    """`by_distinct` (the absolute URLs of edge logs are split once per distinct target) gives, row for row, what the
    computation over every row gives: repeated values, nulls and an empty string included, in the rows' order."""
    from logscope.formats.variables import _url_parts
    from logscope.schema import by_distinct

    targets = pl.Series(
        "t",
        [
            "https://mcp.example.net:443/mcp?x=1",
            None,
            "/relative",
            "https://mcp.example.net:443/mcp?x=1",
            "",
            "HTTP://[::1]:8080",
            "wss://a@b/c",
        ]
        * 3,
    )
    assert by_distinct(targets, _url_parts).to_list() == _url_parts(targets).to_list()
    assert by_distinct(targets, _url_parts).name == "t"
    assert by_distinct(targets, lambda s: s.str.len_bytes()).to_list() == targets.str.len_bytes().to_list()


TIME_FORMS = {
    "2026-05-20T10:00:00.123Z": datetime(2026, 5, 20, 10, 0, 0, 123000, tzinfo=UTC),
    "2026-05-20T12:00:00+02:00": datetime(2026, 5, 20, 10, 0, tzinfo=UTC),
    "2026-05-20 10:00:00.5": datetime(2026, 5, 20, 10, 0, 0, 500000, tzinfo=UTC),
    "2026/05/20 10:00:00": datetime(2026, 5, 20, 10, 0, tzinfo=UTC),
    "2026-05-20T10:00:00.123456789123Z": datetime(2026, 5, 20, 10, 0, 0, 123456, tzinfo=UTC),
    "1779271200": datetime.fromtimestamp(1779271200, UTC),
    "1779271200123": datetime.fromtimestamp(1779271200.123, UTC),
    "1779271200123456789": datetime(2026, 5, 20, 10, 0, 0, 123456, tzinfo=UTC),
    "20/May/2026:12:00:00 +0200": datetime(2026, 5, 20, 10, 0, tzinfo=UTC),
    "junk": None,
    "nan": None,
    "": None,
}


def test_a_batch_of_one_time_form_is_read_as_a_batch_of_every_form() -> None:
    """The time parsers read a batch in its usual form (ISO with Z, or epoch numbers) by that form alone and fall
    back to every form only when something is left unread: the answer is the same either way, value for value."""
    from logscope.formats.fields import parse_any_time, parse_iso8601

    mixed = pl.DataFrame({"t": [*TIME_FORMS, None]})
    together = mixed.select(parse_any_time(pl.col("t"))).to_series().to_list()
    assert together == [*TIME_FORMS.values(), None]
    for value, expected in TIME_FORMS.items():
        alone = pl.DataFrame({"t": [value, value, None]}).select(parse_any_time(pl.col("t"))).to_series().to_list()
        assert alone == [expected, expected, None], value
    iso = [v for v in TIME_FORMS if v[:4] == "2026"]
    by_iso = pl.DataFrame({"t": iso}).select(parse_iso8601(pl.col("t"))).to_series().to_list()
    assert by_iso == [TIME_FORMS[v] for v in iso]
    usual = pl.DataFrame({"t": iso[:1] * 3}).select(parse_iso8601(pl.col("t")).alias("ts"))
    assert usual.columns == ["ts"] and usual["ts"].to_list() == [TIME_FORMS[iso[0]]] * 3
