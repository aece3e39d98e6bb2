"""Who owns an address, from the providers' real published range files (../shared/realdata/networks)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from logscope.analysis import analyze
from logscope.inventory import networks
from logscope.inventory.networks import load_directory, lookup, sources

from .conftest import SAMPLES, SHARED, run_cli

NETWORKS = SHARED / "realdata" / "networks"

# The spot checks of networks/SOURCES.md, and a few more of ours.
EXPECTED = {
    "54.67.34.241": ("AWS", "us-west-1"),
    "52.151.51.77": ("Azure", "westus2"),
    "172.69.1.1": ("Cloudflare", None),
    "100.24.7.9": ("AWS", "us-east-1"),
    "34.106.4.4": ("Google Cloud", "us-west3"),
    "160.79.104.5": ("Anthropic", None),
    "158.51.125.197": (None, None),
    "2607:6bc0::10": ("Anthropic", None),
    "2a04:4e42::1": ("Fastly", None),
    "::ffff:172.69.1.1": ("Cloudflare", None),
    "10.0.0.1": (None, None),
}


@pytest.fixture(scope="module")
def ranges() -> pl.DataFrame:
    return load_directory(NETWORKS)


def test_every_source_file_parses(ranges: pl.DataFrame) -> None:
    names = set(ranges["network"])
    assert {
        "AWS",
        "Azure",
        "Google Cloud",
        "Cloudflare",
        "Oracle Cloud",
        "DigitalOcean",
        "Hetzner",
        "OVH",
        "Akamai",
        "Fastly",
        "Anthropic",
        "OpenAI",
    } <= names
    for source in sources():
        if (NETWORKS / source.file).exists():
            assert ranges.filter(pl.col("network") == source.network).height > 0, source.file
    assert set(ranges["family"]) == {4, 6}
    assert ranges.filter(pl.col("network") == "Cloudflare").height == 15 + 7  # ips-v4 and ips-v6 as served


@pytest.mark.parametrize("ip", sorted(EXPECTED))
def test_lookup_on_real_ranges(ranges: pl.DataFrame, ip: str) -> None:
    row = lookup(pl.Series([ip]), ranges).row(0, named=True)
    assert (row["network"], row["region"]) == EXPECTED[ip]


def test_longest_prefix_wins(ranges: pl.DataFrame) -> None:
    # 34.106.0.0/16 (Google Cloud, us-west3) lies inside goog.json's 34.64.0.0/10 (all of Google).
    assert lookup(pl.Series(["34.106.4.4", "34.64.0.1"]), ranges).sort("ip")["network"].to_list() == ["Google Cloud", "Google"]


def test_lookup_is_per_distinct_address(ranges: pl.DataFrame) -> None:
    ips = pl.Series(["54.67.34.241"] * 50_000 + ["172.69.1.1"] * 50_000)
    out = lookup(ips, ranges)
    assert out.height == 2


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def mirror() -> Iterator[str]:
    """The real published files, served from a local HTTP server (nothing leaves this machine)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(NETWORKS)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_update_downloads_into_the_cache_and_analyze_uses_it(mirror: str, private_cache: Path) -> None:
    result = run_cli("networks", "update", "--mirror", mirror)
    assert result.returncode == 0, result.stderr
    stored = private_cache / "networks"
    manifest = json.loads((stored / "manifest.json").read_text())
    assert manifest["ip-ranges.json"]["network"] == "AWS" and manifest["ip-ranges.json"]["ranges"] > 10_000
    assert (stored / "ip-ranges.json").read_bytes() == (NETWORKS / "ip-ranges.json").read_bytes()
    looked = run_cli("networks", "lookup", "158.51.125.197", "54.67.34.241")
    assert "AWS AS16509 (EC2, us-west-1" in looked.stdout and "158.51.125.197" in looked.stdout
    assert [line.split()[0] for line in looked.stdout.splitlines()] == ["158.51.125.197", "54.67.34.241"]  # as asked
    # From now on analyze names networks without being told where the ranges are.
    report = json.loads(run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--json", "-", "-q").stdout)
    owner = {c["ip"]: c["network"] for c in report["clients"]}
    assert owner["54.67.34.241"] == "AWS" and owner["52.151.51.77"] == "Azure" and owner["158.51.125.197"] is None


def test_update_keeps_the_old_copy_when_a_download_fails(mirror: str, tmp_path: Path) -> None:
    networks.update(tmp_path, mirror)
    before = (tmp_path / "ips-v4").read_bytes()
    results = networks.update(tmp_path, mirror + "missing/")
    assert not any(r.ok for r in results)
    assert (tmp_path / "ips-v4").read_bytes() == before
    assert run_cli("networks", "update", "--dir", str(tmp_path), "--mirror", mirror + "missing/").returncode == 1


def test_seed_architectures_with_networks(ranges: pl.DataFrame) -> None:
    analysis = analyze(SAMPLES / "mcp-seed.access.log", network_ranges=ranges)
    mcp = analysis.architectures.filter(pl.col("mcp"))
    rows = set(zip(mcp["agent"], mcp["network"], mcp["transport"], mcp["mcp_transport"], mcp["teardown"], strict=True))
    seed = {
        ("ke/JS", "Cloudflare", "https-only", "streamable-http", False),  # 1 Cloudflare AI Gateway
        (None, "Cloudflare", "https-only", "streamable-http", False),  # 2 Cloudflare Workers fleet
        (None, None, "https-only", "streamable-http+stream", False),  # 3 Node.js agent, Johannesburg, no UA
        ("python-httpx", None, "https-only", "streamable-http", False),  # 4 smolagents
        ("python-httpx", "Azure", "https-only", "streamable-http", False),  # 5 Azure SDK
        ("python-httpx", "Azure", "https-only", "legacy-sse", False),  # 6 Azure SDK, SSE variant
        ("python-httpx", "Azure", "https-only", "streamable-http", True),  # 7 Azure SDK + DELETE teardown
        ("MCP-Client", None, "starts-http", "streamable-http", False),  # 8 MCP-Client/1.0 on a VPS
    }
    assert seed <= rows
    # ... and the second long-running client of the seed: no User-Agent, on AWS, stuck on /mcp/sse.
    assert rows - seed == {(None, "AWS", "starts-http", "streamable-http", False)}
    fleet = mcp.filter(pl.col("agent").is_null() & (pl.col("network") == "Cloudflare"))
    assert fleet["ips"].item() == 40


def write_mmdb(path: Path, networks_: dict[str, dict]) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    for cidr, record in networks_.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def test_asn_db_names_networks_no_range_covers(tmp_path: Path, ranges: pl.DataFrame) -> None:
    db = write_mmdb(
        tmp_path / "asn.mmdb",
        {
            "158.51.124.0/22": {"autonomous_system_number": 399804, "autonomous_system_organization": "Hostodo"},
            "54.67.0.0/16": {"autonomous_system_number": 16509, "autonomous_system_organization": "AMAZON-02"},
        },
    )
    analysis = analyze(SAMPLES / "mcp-seed.access.log", network_ranges=ranges, asn_db=db)
    owner = dict(analysis.clients.select("ip", "network").unique().iter_rows())
    assert owner["158.51.125.197"] == "Hostodo"  # the seed's VPS, from the database
    assert owner["54.67.34.241"] == "AWS"  # a published range wins over the AS name
    row = analysis.clients.filter(pl.col("ip") == "158.51.125.197").row(0, named=True)
    assert row["network_asn"] == 399804
    report = json.loads(run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--asn-db", str(db), "--json", "-", "-q").stdout)
    assert {c["network"] for c in report["clients"] if c["ip"] == "158.51.125.197"} == {"Hostodo"}


def test_ipinfo_lite_shape(tmp_path: Path) -> None:
    from logscope.inventory.asn import asn_lookup

    db = write_mmdb(tmp_path / "ipinfo.mmdb", {"8.8.8.0/24": {"asn": "AS15169", "as_name": "Google LLC", "country_code": "US"}})
    row = asn_lookup(pl.Series(["8.8.8.8", "not-an-ip"]), db).sort("ip").row(0, named=True)
    assert (row["asn"], row["as_org"], row["country"]) == (15169, "Google LLC", "US")


def test_asn_db_errors_are_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database")
    for path in (junk, tmp_path / "missing.mmdb"):
        result = run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--asn-db", str(path))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and str(path) in result.stderr


def test_embedded_default_names_networks_offline() -> None:
    from logscope.inventory.networks import embedded_ranges

    probes = {
        "54.67.34.241": ("AWS", 16509),
        "52.151.51.77": ("Azure", 8075),
        "172.69.1.1": ("Cloudflare", 13335),
        "34.106.4.4": ("Google Cloud", 396982),
        "160.79.104.5": ("Anthropic", 399358),
        "116.203.1.1": ("Hetzner", 24940),
        "2a01:4f8::1": ("Hetzner", 24940),
        "51.38.1.1": ("OVH", 16276),
        "172.105.1.1": ("Akamai", 63949),  # Linode, now Akamai's
        "23.32.1.1": ("Akamai", 20940),
        "151.101.1.1": ("Fastly", 54113),
        "158.51.125.197": (None, None),
    }
    found = lookup(pl.Series(list(probes)), embedded_ranges())
    assert {ip: (net, asn) for ip, net, asn in found.select("ip", "network", "asn").iter_rows()} == probes
    assert found.filter(pl.col("ip") == "172.105.1.1")["service"].item() == "Linode"
    assert found.filter(pl.col("ip") == "116.203.1.1")["country"].item() == "DE"
    # With no cache and no --networks-dir, analyze uses it.
    report = json.loads(run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--json", "-", "-q").stdout)
    assert {(c["network"], c["network_asn"], c["network_country"]) for c in report["clients"] if c["ip"] == "54.67.34.241"} == {
        ("AWS", 16509, "US")
    }


@pytest.mark.parametrize("network", ["AWS", "Cloudflare", "Google Cloud", "Oracle Cloud", "DigitalOcean"])
def test_embedded_default_agrees_with_the_providers_current_files(ranges: pl.DataFrame, network: str) -> None:
    """The shipped (2023) ranges are never claimed by another provider in the newer published files, and
    most are still listed: stale data may leave an address unnamed, it must not misname it."""
    import ipaddress

    from logscope.inventory.networks import embedded_ranges

    shipped = embedded_ranges().filter(pl.col("network") == network)
    probes = pl.Series([str(ipaddress.ip_network(p).network_address) for p in shipped["prefix"].to_list()])
    owners = lookup(probes, ranges)
    other = owners.filter(pl.col("network").is_not_null() & (pl.col("network") != network) & (pl.col("network") != "Google"))
    assert other.height == 0, other.head()
    same = owners.filter(pl.col("network") == network).height
    assert same / owners.height >= 0.8, f"{network}: only {same} of {owners.height} shipped prefixes still listed"


@pytest.mark.parametrize(("network", "share"), [("Hetzner", 0.95), ("OVH", 0.8), ("Akamai", 0.95), ("Fastly", 0.7)])
def test_embedded_default_names_the_providers_published_ranges(ranges: pl.DataFrame, network: str, share: float) -> None:
    """The shipped AS prefixes (from routing data, not the providers' lists) name the ranges the providers
    publish themselves, and never as someone else's."""
    import ipaddress

    from logscope.inventory.networks import embedded_ranges

    published = ranges.filter(pl.col("network") == network)["prefix"].to_list()
    probes = pl.Series([str(ipaddress.ip_network(p, strict=False).network_address) for p in published])
    owners = lookup(probes, embedded_ranges())
    named = owners.filter(pl.col("network").is_not_null())
    assert set(named["network"]) == {network}
    assert named.height / owners.height >= share, f"{network}: {named.height} of {owners.height}"


def test_downloaded_files_take_precedence(mirror: str, private_cache: Path) -> None:
    from logscope.inventory.networks import default_ranges

    networks.update(None, mirror)
    combined = default_ranges()
    # Networks the download covers come from it; the shipped default still fills JD Cloud, which it does not.
    assert combined.filter(pl.col("network") == "AWS")["priority"].max() < len(sources())
    assert combined.filter(pl.col("network") == "JD Cloud").height > 0


def _reference_key(text: str) -> tuple[int | None, int | None]:
    import ipaddress

    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None, None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.version, int(addr) if addr.version == 4 else int(addr) >> 64


def test_address_keys_agree_with_ipaddress() -> None:
    """The vectorised IPv4 reading gives exactly what Python's ipaddress gives, for any text."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from logscope.inventory.networks import address_keys

    octet = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "-1", "", " 1", "1 ", "\u0661", "\uff11"]))
    dotted = st.lists(octet, min_size=3, max_size=5).map(".".join)
    real = st.one_of(st.ip_addresses().map(str), st.ip_addresses(v=6).map(lambda a: f"[{a}]"))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.one_of(dotted, real, st.text(max_size=20)), min_size=1, max_size=40))
    def check(texts: list[str]) -> None:
        got = {ip: (family, key) for ip, family, key in address_keys(pl.Series(texts, dtype=pl.String)).iter_rows()}
        assert got == {t: _reference_key(t) for t in set(texts)}

    check()
