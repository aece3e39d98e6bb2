"""The plan on a Dask cluster gives the report of one process (issue 19).

A real `dask scheduler` and two `dask worker` processes are started here on loopback, and stopped by
process id; `--scheduler local:2` starts a LocalCluster of two worker processes. The inputs are the seed,
logs of the lab corpus (every server, several inputs at once) and a generated log in three rotated files.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest

from logscope.analysis import analyze
from logscope.errors import LogscopeError
from logscope.report.json_report import build_report

from .conftest import ROOT, SAMPLES, run_cli, same_report, validate_report

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

distributed = pytest.importorskip("distributed")

DASK = Path(sys.executable).parent / "dask"
WORKER_FLAGS = ("--no-dashboard", "--name")
SEED = [SAMPLES / "mcp-seed.caddy.json", SAMPLES / "mcp-seed.access.log"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Cluster:
    """A scheduler and its workers, each a process of its own (workers without a nanny, so that killing
    one kills the worker itself)."""

    def __init__(self, workers: int) -> None:
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        port = self.address.rsplit(":", 1)[1]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], **quiet)
        self.workers = [
            subprocess.Popen(
                [str(DASK), "worker", self.address, "--no-nanny", "--nthreads", "1", "--host", "127.0.0.1", *WORKER_FLAGS, f"w{k}"],
                **quiet,
            )
            for k in range(workers)
        ]
        self.wait_for(workers)

    def client(self) -> distributed.Client:
        return distributed.Client(self.address, timeout="30s")

    def wait_for(self, n: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while len(client.scheduler_info()["workers"]) < n:
                assert time.monotonic() < deadline, f"{n} workers did not join the scheduler"
                time.sleep(0.2)

    def task_prefixes(self) -> dict[str, dict[str, int]]:
        """What the scheduler ran, by task name: {prefix: {state: how many tasks reached it}}; "memory"
        counts the tasks that finished."""

        def prefixes(dask_scheduler: object) -> dict[str, dict[str, int]]:
            return {k: dict(p.state_counts) for k, p in dask_scheduler.task_prefixes.items()}  # type: ignore[attr-defined]

        with self.client() as client:
            return client.run_on_scheduler(prefixes)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            _stop(proc)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster(2)
    try:
        yield c
    finally:
        c.stop()
    assert all(p.poll() is not None for p in [*c.workers, c.scheduler])


def _rotated_log(directory: Path, lines: int) -> list[Path]:
    """A generated log (benchmarks/analyze_speed.py's traffic) in three rotated files, the oldest gzipped."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from analyze_speed import nginx_line, traffic
    finally:
        sys.path.pop(0)
    text = [nginx_line(*record) for record in islice(traffic(lines, seed=3), lines)]
    third = lines // 3
    paths = [directory / "access.log.2.gz", directory / "access.log.1", directory / "access.log"]
    with gzip.open(paths[0], "wt") as f:
        f.writelines(text[:third])
    paths[1].write_text("".join(text[third : 2 * third]))
    paths[2].write_text("".join(text[2 * third :]))
    return paths


def _corpus_logs(tmp: Path, pattern: str) -> list[Path]:
    from lab.corpus import unpack_corpus

    corpus = unpack_corpus(ROOT / "tests" / "lab_corpus", tmp)
    found = sorted((corpus / "logs").glob(pattern))
    assert len(found) >= 10, pattern
    return found


def test_the_seed_on_a_cluster_is_the_seed_in_one_process(cluster: Cluster) -> None:
    whole = build_report(analyze(SEED))
    on_cluster = build_report(analyze(SEED, scheduler=cluster.address))
    validate_report(on_cluster)
    assert on_cluster["totals"]["stuck_clients"] == 2
    assert same_report(whole, on_cluster)
    ran = cluster.task_prefixes()
    # Parsed per input and analysed per shard by the workers, not here.
    assert ran["partition_input"]["memory"] >= 2 and ran["analyse_shard"]["memory"] >= 4


@pytest.mark.parametrize("pattern", ["*/*/nginx-combined.log", "caddy/*/caddy-json.log", "apache/*/apache-combined.log"])
def test_lab_corpus_logs_on_a_cluster(cluster: Cluster, tmp_path: Path, pattern: str) -> None:
    logs = _corpus_logs(tmp_path, pattern)
    whole = build_report(analyze(logs))
    assert whole["totals"]["mcp_clients"] > 50
    assert same_report(whole, build_report(analyze(logs, scheduler=cluster.address, shards=5)))


def test_a_rotated_generated_log_on_a_cluster_and_on_local_workers(cluster: Cluster, tmp_path: Path) -> None:
    logs = _rotated_log(tmp_path, 60_000)
    whole = build_report(analyze(logs))
    assert whole["totals"]["stuck_clients"] > 0
    assert same_report(whole, build_report(analyze(logs, scheduler=cluster.address)))
    assert same_report(whole, build_report(analyze(logs, scheduler="local:2")))


def test_a_large_plain_file_is_parsed_in_ranges_by_the_workers(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of whole lines, each parsed by a worker: the same lines, numbers, rejected samples and report."""
    import logscope.runners.shards as shards

    logs = _rotated_log(tmp_path, 60_000)
    plain = logs[2]
    lines = plain.read_text().splitlines(keepends=True)
    for at in (5, 7_000, 13_000, 19_999):  # unparseable lines across the ranges, and no newline at the end
        lines.insert(at, f"garbage line {at} \x00 not a request\n")
    plain.write_text("".join(lines).rstrip("\n"))
    whole = build_report(analyze(logs))
    assert whole["inputs"][2]["rejected"] == 4
    monkeypatch.setattr(shards, "RANGE_BYTES", plain.stat().st_size // 5)
    before = cluster.task_prefixes().get("count_lines", {})
    on_cluster = build_report(analyze(logs, scheduler=cluster.address))
    assert cluster.task_prefixes()["count_lines"]["memory"] - before.get("memory", 0) >= 5  # ranged, not whole
    assert on_cluster["inputs"] == whole["inputs"]  # line counts, rejected lines' numbers and samples
    assert same_report(whole, on_cluster)


def test_a_store_converted_on_the_cluster_is_read_partition_by_partition(cluster: Cluster, tmp_path: Path) -> None:
    """`logscope convert --scheduler` writes day and client partitions; `analyze STORE` gives the logs'
    report, read whole here, or on the cluster with each partition as a shard, read where it is."""
    logs = _rotated_log(tmp_path, 30_000)
    store = tmp_path / "store"
    out = run_cli("convert", *map(str, logs), "--out", str(store), "--scheduler", cluster.address, "--shards", "3")
    assert out.returncode == 0, out.stderr
    assert "client partitions" in out.stdout
    days = sorted(store.glob("day=*"))
    assert days and all(sorted(p.name for p in d.iterdir()) and all(p.name.startswith("client=") for p in d.iterdir()) for d in days)
    assert {p.name for d in days for p in d.iterdir()} == {"client=0000", "client=0001", "client=0002"}
    whole = build_report(analyze(logs))
    assert same_report(whole, build_report(analyze(store)))  # read whole, in this process
    before = cluster.task_prefixes().get("analyse_shard", {})
    on_cluster = build_report(analyze(store, scheduler=cluster.address))
    assert cluster.task_prefixes()["analyse_shard"]["memory"] - before.get("memory", 0) == 3  # one task a partition
    assert same_report(whole, on_cluster)
    assert same_report(whole, build_report(analyze(store, shards=5)))  # other shards: dealt again, same answers


def test_the_cli_takes_the_scheduler_from_the_option_and_the_environment(cluster: Cluster, tmp_path: Path) -> None:
    import json

    out = run_cli("analyze", *map(str, SEED), "--scheduler", cluster.address, "--json", "-", "--no-html", "-q")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    os.environ["DASK_SCHEDULER_ADDRESS"] = cluster.address
    try:
        from_env = run_cli("analyze", *map(str, SEED), "--json", "-", "--no-html", "-q")
    finally:
        del os.environ["DASK_SCHEDULER_ADDRESS"]
    assert from_env.returncode == 0, from_env.stderr
    assert same_report(report, json.loads(from_env.stdout))
    assert report["totals"]["stuck_clients"] == 2


def test_an_unreachable_scheduler_is_one_line_and_exit_2() -> None:
    out = run_cli("analyze", str(SEED[1]), "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--no-html", "-q")
    assert out.returncode == 2
    assert out.stderr.startswith("logscope: error: cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert "Traceback" not in out.stderr
    with pytest.raises(LogscopeError, match=r"1 to [0-9]+ on this machine, not 0"):
        analyze(SEED, scheduler="local:0")


def test_a_worker_killed_mid_run_is_survived(tmp_path: Path) -> None:
    """Dask runs a dead worker's task again on the other one: the report is the one of one process."""
    logs = _rotated_log(tmp_path, 150_000)
    whole = build_report(analyze(logs))
    c = Cluster(2)
    try:
        victim, killed = c.workers[0], threading.Event()
        with c.client() as client:
            victim_address = next(a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "w0")

            def kill_when_busy() -> None:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not killed.is_set():
                    if client.processing().get(victim_address):
                        victim.kill()
                        killed.set()
                        return
                    time.sleep(0.01)

            watcher = threading.Thread(target=kill_when_busy, daemon=True)
            watcher.start()
            on_cluster = build_report(analyze(logs, scheduler=c.address, shards=12))
            watcher.join(5)
        assert killed.is_set(), "the worker was never seen busy"
        assert victim.wait(10) == -signal.SIGKILL
        assert same_report(whole, on_cluster)
    finally:
        c.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The seed sample, plain and gzipped, served over HTTP on loopback by a server this test starts."""
    root = tmp_path / "www"
    root.mkdir()
    data = (SAMPLES / "mcp-seed.access.log").read_bytes()
    (root / "access.log").write_bytes(data)
    (root / "access.log.1.gz").write_bytes(gzip.compress(data))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _same_diagnosis(a: dict, b: dict) -> None:
    """The same clients and findings, whatever the inputs are called (their names differ by URL)."""
    assert a["clients"] == b["clients"] and a["totals"] == b["totals"]
    assert [(f["code"], f["count"], f["clients"]) for f in a["findings"]] == [(f["code"], f["count"], f["clients"]) for f in b["findings"]]


def test_urls_are_read_through_fsspec_here_and_on_the_workers(served: tuple[str, Path], cluster: Cluster) -> None:
    base, root = served
    local = build_report(analyze(SAMPLES / "mcp-seed.access.log"))
    for url in (f"{base}/access.log", f"{base}/access.log.1.gz"):
        report = build_report(analyze(url))
        assert report["inputs"][0]["path"] == url and report["inputs"][0]["lines"] == local["inputs"][0]["lines"]
        _same_diagnosis(local, report)
        _same_diagnosis(local, build_report(analyze(url, scheduler=cluster.address)))
    # file:// URLs are local paths, globs included.
    globbed = build_report(analyze(f"file://{root}/access.log*"))
    assert [i["path"] for i in globbed["inputs"]] == [str(root / "access.log"), str(root / "access.log.1.gz")]
    missing = run_cli("analyze", f"{base}/nothing.log", "--no-html", "-q")
    assert missing.returncode == 2 and missing.stderr.strip() == f"logscope: error: {base}/nothing.log: no such file"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A local S3 (moto's server, started here on loopback and stopped after), and the AWS settings that
    point fsspec, Polars and the worker processes started after it at it."""
    moto_server = pytest.importorskip("moto.server")
    fsspec = pytest.importorskip("fsspec")
    pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings = {
        "AWS_ACCESS_KEY_ID": "logscope-test",
        "AWS_SECRET_ACCESS_KEY": "logscope-test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ALLOW_HTTP": "true",  # Polars' object store, over plain HTTP to the loopback server
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("logs")
    fs.mkdir("spill")
    try:
        yield fs
    finally:
        fsspec.AbstractFileSystem.clear_instance_cache()  # no S3 client outlives its server
        server.stop()


def test_s3_inputs_and_an_s3_spill_dir_here_and_on_workers(s3: object, tmp_path: Path) -> None:
    """Logs in object storage, shards spilled to object storage (`--spill-dir s3://…`), in one process and
    on workers that reach the bucket themselves: the report of the local files, and nothing left behind."""
    import gc

    fs = s3
    rotated = _rotated_log(tmp_path, 6000)
    for path in rotated:
        fs.put(str(path), f"logs/rotated/{path.name}")  # type: ignore[attr-defined]
    local = build_report(analyze(rotated, shards=3))
    remote = "s3://logs/rotated/access.log*"
    here = analyze(remote, shards=3, spill_dir="s3://spill/run")
    assert fs.glob("spill/run/logscope-shards-*/annotated-*.parquet")  # type: ignore[attr-defined]
    report = build_report(here)
    assert sorted(i["path"] for i in report["inputs"]) == sorted(f"s3://logs/rotated/{p.name}" for p in rotated)
    _same_diagnosis(local, report)
    del here
    gc.collect()
    assert not fs.glob("spill/run/logscope-shards-*")  # type: ignore[attr-defined]
    workers = Cluster(2)  # started with the settings above, as workers on a cloud would have them
    try:
        _same_diagnosis(local, build_report(analyze(remote, shards=3, spill_dir="s3://spill/run", scheduler=workers.address)))
        missing = run_cli("analyze", "s3://logs/nothing.log", "--no-html", "-q")
        assert missing.returncode == 2 and missing.stderr.strip() == "logscope: error: s3://logs/nothing.log: no such file"
    finally:
        workers.stop()
