#!/usr/bin/env python3
"""How long JSON decoding alone takes on a Caddy access log, with the decoders a Python tool can use.

    python benchmarks/json_decoders.py [LOG] [--repeat 3]

LOG defaults to benchmarks/data/mcp-caddy-1000000.log (analyze_speed.py writes it). The file is read
into memory first, then decoded, keeping only the fields logscope reads, by:
- Arrow's JSON reader with logscope's Caddy schema (what logscope uses, `_read_typed`);
- Polars' `read_ndjson` with the same fields;
- DuckDB's `read_json`, when the duckdb package is installed (it is not a logscope dependency).
It prints the wall and CPU seconds of each run. This is the floor under "Caddy JSON at N lines/s":
no analysis can be faster than decoding its input. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from logscope.formats.jsonlines import _read_typed, caddy_format

HERE = Path(__file__).resolve().parent

# The same fields as logscope's Caddy schema, in DuckDB's words (headers are maps of lists there).
DUCKDB_COLUMNS = {
    "ts": "DOUBLE",
    "logger": "VARCHAR",
    "msg": "VARCHAR",
    "status": "BIGINT",
    "size": "BIGINT",
    "duration": "DOUBLE",
    "request": "STRUCT(remote_ip VARCHAR, remote_addr VARCHAR, client_ip VARCHAR, proto VARCHAR, method VARCHAR, "
    "host VARCHAR, uri VARCHAR, headers MAP(VARCHAR, VARCHAR[]), tls STRUCT(version BIGINT))",
    "resp_headers": "MAP(VARCHAR, VARCHAR[])",
}


def timed(name: str, decode: Callable[[], int], lines: int, repeat: int) -> None:
    for i in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        rows = decode()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if rows != lines:
            print(f"{name}: decoded {rows:,} rows of {lines:,} lines")
            return
        print(f"{name:8} run {i + 1}: {wall:6.2f} s ({cpu:.2f} s of CPU) = {lines / wall:,.0f} lines/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, nargs="?", default=HERE / "data" / "mcp-caddy-1000000.log")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.log.is_file():
        parser.error(f"{args.log}: no such file (benchmarks/analyze_speed.py writes the benchmark logs)")
    payload = args.log.read_bytes()
    lines = payload.count(b"\n") + (not payload.endswith(b"\n"))
    caddy = caddy_format()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"input:   {args.log.name}, {lines:,} lines, {len(payload) / 2**20:,.0f} MiB, in memory")

    def arrow() -> int:
        frame = _read_typed(payload, lines, caddy.schema, caddy.numbers)
        return 0 if frame is None else frame.height

    timed("arrow", arrow, lines, args.repeat)
    timed("polars", lambda: pl.read_ndjson(payload, schema=dict(caddy.schema)).height, lines, args.repeat)
    try:
        import duckdb  # type: ignore[import-not-found]
    except ImportError:
        print("duckdb:  not installed (pip install duckdb to compare it)")
        return
    con = duckdb.connect()
    con.execute(f"SET threads={os.cpu_count()}")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCKDB_COLUMNS.items()) + "}"
    with tempfile.TemporaryDirectory() as tmp:
        # DuckDB reads files, not buffers: a copy on the temporary file system (its page cache).
        copy = Path(tmp) / "caddy.json"
        copy.write_bytes(payload)
        query = f"SELECT * FROM read_json('{copy}', format='newline_delimited', columns={columns})"
        timed("duckdb", lambda: con.sql(query).to_arrow_table().num_rows, lines, args.repeat)


if __name__ == "__main__":
    main()
