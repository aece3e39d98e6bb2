"""Who owns an address: published provider ranges, looked up for whole columns at once.

Ranges come from the providers' own files (data/network_sources.toml lists them), each read by a
parser for its format into one table of CIDR prefixes. A lookup is a longest-prefix match done as one
exact join per prefix length over the distinct addresses, never Python per address per request:
addresses are turned into integers once per distinct value. IPv6 is matched on its first 64 bits
(provider prefixes are /64 or shorter; a longer one is treated as its /64).
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

RANGE_SCHEMA = {
    "network": pl.String,
    "service": pl.String,
    "region": pl.String,
    "country": pl.String,
    "asn": pl.Int64,
    "family": pl.Int8,
    "length": pl.Int16,  # prefix length, at most 32 (IPv4) or 64 (IPv6, first 64 bits)
    "key": pl.UInt64,  # the prefix's network address as an integer (IPv6: its first 64 bits)
    "priority": pl.Int32,  # the source's position: on equal prefixes the earlier source wins
    "prefix": pl.String,
}
_CIDR = re.compile(r"(?<![\w:.])((?:\d{1,3}\.){3}\d{1,3}/\d{1,2}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}/\d{1,3})(?![\w:.])")


@dataclass(frozen=True)
class Source:
    network: str
    file: str
    url: str
    format: str
    service: str | None = None
    asn: int | None = None
    note: str | None = None


@cache
def sources() -> tuple[Source, ...]:
    data = tomllib.loads(resources.files("logscope.data").joinpath("network_sources.toml").read_text("utf-8"))
    return tuple(Source(**s) for s in data["source"])


# --- parsers: text of one provider file -> rows of (prefix, region, country, service) -------------------

Row = tuple[str, str | None, str | None, str | None]


def _cidr_lines(text: str) -> list[Row]:
    """Plain CIDR lists (one per line, comments with #), or any text with CIDRs in it (a docs page)."""
    return [(m, None, None, None) for m in _CIDR.findall(re.sub(r"#[^\n]*", "", text))]


def _google_style(text: str) -> list[Row]:
    """{"prefixes": [{"ipv4Prefix"|"ipv6Prefix", "scope"?, "service"?}]}: Google, OpenAI, Anthropic bots."""
    if not text.lstrip().startswith("{"):
        return _cidr_lines(text)
    rows = []
    for p in json.loads(text).get("prefixes", []):
        prefix = p.get("ipv4Prefix") or p.get("ipv6Prefix")
        if prefix:
            rows.append((prefix, p.get("scope"), None, None))
    return rows


def _aws(text: str) -> list[Row]:
    data = json.loads(text)
    rows: dict[str, Row] = {}
    for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        for p in data.get(key, []):
            prefix, service = p[field], p.get("service")
            # The same prefix is listed under AMAZON and under the service using it: keep the service.
            if prefix not in rows or rows[prefix][3] == "AMAZON":
                rows[prefix] = (prefix, p.get("region"), None, service)
    return list(rows.values())


def _azure(text: str) -> list[Row]:
    rows = []
    for value in json.loads(text).get("values", []):
        name, props = value.get("name", ""), value.get("properties", {})
        # AzureCloud.<region> tags partition Azure's space by region; service tags overlap them.
        if not name.startswith("AzureCloud"):
            continue
        region = props.get("region") or None
        rows.extend((p, region, None, None) for p in props.get("addressPrefixes", []))
    return rows


def _oracle(text: str) -> list[Row]:
    return [(c["cidr"], r.get("region"), None, None) for r in json.loads(text).get("regions", []) for c in r.get("cidrs", [])]


def _fastly(text: str) -> list[Row]:
    data = json.loads(text)
    return [(p, None, None, None) for p in data.get("addresses", []) + data.get("ipv6_addresses", [])]


def _geofeed(text: str) -> list[Row]:
    """RFC 8805 geofeed CSV: prefix,country,region,city,postal."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        rows.append((parts[0], (parts[2] if len(parts) > 2 else "") or None, (parts[1] if len(parts) > 1 else "") or None, None))
    return rows


def _github_meta(text: str) -> list[Row]:
    # `actions` (and codespaces) run on Azure: leave those to Azure's own ranges.
    rows = []
    for key, values in json.loads(text).items():
        if isinstance(values, list) and key not in ("actions", "actions_macos", "codespaces", "ssh_keys", "domains"):
            rows.extend((v, None, None, key) for v in values if isinstance(v, str) and "/" in v)
    return rows


PARSERS = {
    "cidr-lines": _cidr_lines,
    "google-style": _google_style,
    "aws": _aws,
    "azure-service-tags": _azure,
    "oracle": _oracle,
    "fastly": _fastly,
    "geofeed": _geofeed,
    "github-meta": _github_meta,
}


def _prefix_key(prefix: str) -> tuple[int, int, int] | None:
    """(family, length, key) of a CIDR, or None when it is not one."""
    try:
        net = ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return None
    if net.version == 4:
        return 4, net.prefixlen, int(net.network_address)
    length = min(net.prefixlen, 64)
    return 6, length, (int(net.network_address) >> 64) >> (64 - length) << (64 - length) if length else 0


def parse_source(source: Source, text: str, priority: int) -> pl.DataFrame:
    """One provider file as range rows (per prefix, not per log line)."""
    out: list[dict[str, Any]] = []
    for prefix, region, country, service in PARSERS[source.format](text):
        parsed = _prefix_key(prefix)
        if parsed is None:
            continue
        family, length, key = parsed
        out.append(
            {
                "network": source.network,
                "service": service or source.service,
                "region": region,
                "country": country,
                "asn": source.asn,
                "family": family,
                "length": length,
                "key": key,
                "priority": priority,
                "prefix": prefix.strip(),
            }
        )
    return pl.DataFrame(out, schema=RANGE_SCHEMA)


def load_directory(directory: Path, chosen: Iterable[Source] | None = None) -> pl.DataFrame:
    """Ranges from the provider files present in `directory` (as `networks update` stores them)."""
    frames = []
    for priority, source in enumerate(chosen or sources()):
        path = directory / source.file
        if path.is_file():
            frames.append(parse_source(source, path.read_text("utf-8", errors="replace"), priority))
    return pl.concat(frames) if frames else pl.DataFrame(schema=RANGE_SCHEMA)


# --- lookup --------------------------------------------------------------------------------------------


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # ASCII digits: Rust's \d is Unicode-aware
_IPV4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def address_keys(ips: pl.Series) -> pl.DataFrame:
    """Distinct addresses with their family and integer key; unparseable ones get nulls.

    Dotted IPv4 (nearly all addresses) is read by one expression; the rest (IPv6, bracketed, odd
    spellings) by Python's ipaddress, once per distinct value.
    """
    distinct = ips.drop_nulls().unique().rename("ip").to_frame()
    octets = pl.col("ip").str.extract_groups(_IPV4)
    a, b, c, d = (octets.struct.field(str(i)).cast(pl.UInt64) for i in range(1, 5))
    key = a * (1 << 24) + b * (1 << 16) + c * (1 << 8) + d  # null when the address is not dotted IPv4
    dotted = distinct.with_columns(key.alias("key")).with_columns(
        pl.when(pl.col("key").is_not_null()).then(pl.lit(4, pl.Int8)).alias("family")
    )
    rows = []
    for ip in dotted.filter(pl.col("key").is_null())["ip"].to_list():
        try:
            addr = ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            rows.append((ip, None, None))
            continue
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        rows.append((ip, addr.version, int(addr) if addr.version == 4 else int(addr) >> 64))
    others = pl.DataFrame(rows, schema={"ip": pl.String, "family": pl.Int8, "key": pl.UInt64}, orient="row")
    return pl.concat([dotted.filter(pl.col("key").is_not_null()).select("ip", "family", "key"), others])


def lookup(ips: pl.Series, ranges: pl.DataFrame) -> pl.DataFrame:
    """For each distinct address, in order of first appearance: the owning network (longest prefix,
    then source order), with its service, region, country and ASN where known. Addresses no range
    covers get nulls."""
    order = ips.drop_nulls().unique(maintain_order=True).cast(pl.String).rename("ip").to_frame()
    addrs = address_keys(order["ip"])
    columns = ["network", "service", "region", "country", "asn"]
    if ranges.height == 0 or addrs.height == 0:
        return order.select("ip", *[pl.lit(None, RANGE_SCHEMA[c]).alias(c) for c in columns])
    matches = []
    for (family, length), group in ranges.group_by("family", "length"):
        bits = 32 if family == 4 else 64
        step = 1 << (bits - int(length))
        masked = addrs.filter(pl.col("family") == family).with_columns(((pl.col("key") // step) * step).alias("_k"))
        best = group.sort("priority").unique(subset="key", keep="first")
        matches.append(masked.join(best, left_on="_k", right_on="key", how="inner").select("ip", "length", "priority", *columns))
    found = pl.concat(matches).sort(["ip", "length", "priority"], descending=[False, True, False]).unique("ip", keep="first")
    return order.join(found.drop("length", "priority"), on="ip", how="left", maintain_order="left")


# --- where ranges live: the user cache that `networks update` fills -------------------------------------

MANIFEST = "manifest.json"


def cache_dir() -> Path:
    """$LOGSCOPE_CACHE, else $XDG_CACHE_HOME/logscope, else ~/.cache/logscope; ranges under networks/."""
    import os

    base = os.environ.get("LOGSCOPE_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "logscope")
    return Path(base) / "networks"


@cache
def embedded_ranges() -> pl.DataFrame:
    """The offline default shipped in the package (data/networks/README.md says where each part comes
    from): cloud providers' published ranges, the prefixes of Hetzner's, OVH's, Akamai's, Linode's,
    Fastly's and Anthropic's own autonomous systems, and the ASN and country of each prefix."""
    import gzip

    raw = resources.files("logscope.data").joinpath("networks/default.csv.gz").read_bytes()
    table = pl.read_csv(
        gzip.decompress(raw),
        schema_overrides={
            "family": pl.Int8,
            "length": pl.Int16,
            "key": pl.UInt64,
            "service": pl.String,
            "region": pl.String,
            "asn": pl.Int64,
            "country": pl.String,
        },
    )
    asn = {s.network: s.asn for s in sources() if s.asn is not None}
    return table.select(
        "network",
        "service",
        "region",
        "country",
        pl.coalesce("asn", pl.col("network").replace_strict(asn, default=None, return_dtype=pl.Int64)).alias("asn"),
        "family",
        "length",
        "key",
        pl.lit(len(sources()) + 1, pl.Int32).alias("priority"),  # after any downloaded source
        "prefix",
    )


def default_ranges(directory: Path | None = None) -> pl.DataFrame:
    """The ranges a run uses.

    With `directory` (--networks-dir): its provider files only. Otherwise the files `networks update`
    stored in the cache, plus the shipped default for every network the cache does not cover.
    """
    if directory is not None:
        return load_directory(directory) if directory.is_dir() else pl.DataFrame(schema=RANGE_SCHEMA)
    cached = load_directory(cache_dir()) if cache_dir().is_dir() else pl.DataFrame(schema=RANGE_SCHEMA)
    embedded = embedded_ranges().filter(~pl.col("network").is_in(cached["network"].unique().implode()))
    return pl.concat([cached, embedded])


@dataclass
class Fetched:
    source: Source
    url: str
    ok: bool
    detail: str  # bytes and ranges read, or the error


def update(directory: Path | None = None, mirror: str | None = None, timeout: float = 30.0) -> list[Fetched]:
    """Download each provider's published file into `directory` (the cache by default).

    `mirror` replaces each source's URL by mirror + file name (a local copy, or a test server). A file
    is written only when it downloads and parses to at least one range, so a failed download keeps the
    previous copy.
    """
    import datetime
    import hashlib
    import urllib.request

    target = directory or cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    results: list[Fetched] = []
    manifest: dict[str, Any] = {}
    manifest_path = target / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text("utf-8"))
    seen: set[str] = set()
    for priority, source in enumerate(sources()):
        if source.file in seen:
            continue
        seen.add(source.file)
        url = mirror.rstrip("/") + "/" + source.file if mirror else source.url
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "logscope-networks-update"})
            with urllib.request.urlopen(request, timeout=timeout) as response:  # http(s) URLs from our own table
                body = response.read()
            ranges = parse_source(source, body.decode("utf-8", errors="replace"), priority)
            if ranges.height == 0:
                raise ValueError("no IP ranges in the response")
        except Exception as exc:  # reported per source; the old copy stays
            results.append(Fetched(source, url, False, str(exc)))
            continue
        (target / source.file).write_bytes(body)
        manifest[source.file] = {
            "network": source.network,
            "url": url,
            "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body),
            "ranges": ranges.height,
            "fetched_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        results.append(Fetched(source, url, True, f"{len(body):,} bytes, {ranges.height:,} ranges"))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return results
