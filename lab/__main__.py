"""The lab's command line: `python -m lab run --out DIR [--fast]` (see lab/run.py and docs/lab.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .processes import LabError
from .run import DRIVERS, PROFILES, run_lab, settings_for
from .servers import SERVERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="Real servers, real MCP clients, and what each client saw.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the lab: servers, backends and clients; writes logs, truth.jsonl and manifest.json")
    run.add_argument("--out", type=Path, required=True, help="the run's directory (emptied first)")
    run.add_argument("--profile", choices=sorted(PROFILES), default="full", help="timings: full (logscope's defaults), corpus, fast")
    run.add_argument("--fast", action="store_true", help="--profile fast: a 5 s attempt gap (for CI), about a minute per server")
    run.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: nginx,caddy,apache,haproxy")
    run.add_argument("--cases", default="", help="comma-separated case names (default: all of lab/cases.toml)")
    run.add_argument("--drivers", default=",".join(DRIVERS), help="comma-separated client drivers: " + ",".join(DRIVERS))
    run.add_argument("--fixed", action="store_true", help="apply each case's fix snippet from logscope/data/fixes.toml")
    run.add_argument("--attempts", type=int, help="attempts per client (default 11, --fast 6)")
    run.add_argument("--parallel", action="store_true", help="run the servers' waves at once (each has addresses of its own)")
    record = sub.add_parser("record", help="pack a run's logs, truth and manifest as the test corpus")
    record.add_argument("run", type=Path, help="a lab run's directory")
    record.add_argument("--out", type=Path, default=Path("tests/lab_corpus"), help="where the corpus goes (default tests/lab_corpus)")
    record.add_argument("--add", action="store_true", help="add the run's servers to the corpus already there")
    doc = sub.add_parser("clients-doc", help="docs/clients.md from a run (or the unpacked corpus), to standard output")
    doc.add_argument("run", type=Path)
    data = sub.add_parser("clients-data", help="logscope/data/clients.toml from a run (or the unpacked corpus), to standard output")
    data.add_argument("run", type=Path)
    check = sub.add_parser("check", help="logscope's verdicts on a run's logs against what each client recorded")
    check.add_argument("run", type=Path, help="a lab run's directory, or the recorded corpus")
    args = parser.parse_args(argv)
    if args.command == "record":
        from .corpus import add_to_corpus, record_corpus

        path = add_to_corpus(args.run, args.out) if args.add else record_corpus(args.run, args.out)
        print(f"lab: corpus {path} ({path.stat().st_size:,} bytes)")
        return 0
    if args.command == "clients-doc":
        from .clientsdoc import clients_doc

        sys.stdout.write(clients_doc(args.run))
        return 0
    if args.command == "clients-data":
        from .clientsdoc import clients_data

        sys.stdout.write(clients_data(args.run))
        return 0
    if args.command == "check":
        from .verdicts import check_problems, fix_problems, judge, summary

        verdicts, server_problems = judge(args.run)
        fixes = fix_problems(args.run)
        checked, check_notes = check_problems(args.run) if (args.run / "check").exists() else ([], [])
        print(summary(verdicts, server_problems + fixes + checked))
        for note in check_notes:
            print(f"  note: {note}")
        return 0 if all(v.right for v in verdicts) and not server_problems and not fixes and not checked else 1
    try:
        settings = settings_for("fast" if args.fast else args.profile, attempts=args.attempts)
        servers = [s for s in args.servers.split(",") if s]
        bad = set(servers) - set(SERVERS)
        if bad:
            raise LabError(f"unknown server(s): {', '.join(sorted(bad))}")
        manifest = run_lab(
            args.out,
            settings,
            servers,
            [c for c in args.cases.split(",") if c],
            args.fixed,
            [d for d in args.drivers.split(",") if d],
            args.parallel,
        )
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 2
    print(f"lab: {len(manifest['cases'])} case(s) on {', '.join(manifest['servers'])} in {manifest['seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
