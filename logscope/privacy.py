"""--anonymize: addresses replaced by stable pseudonyms in every output, grouping kept intact.

A pseudonym keeps the network prefix an operator can reason about (/24 for IPv4, /48 for IPv6) and
adds a keyed hash of the full address, so two clients stay two and the same client is the same on
every run: `158.51.125.0/24#3f9a1c0b`. The key is random, made on first use and kept in the user
cache; without it the hash cannot be reversed by trying all IPv4 addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets

import polars as pl

from .inventory.networks import cache_dir
from .schema import CANONICAL

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6_CANDIDATE = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def anonymize_key() -> bytes:
    path = cache_dir().parent / "anonymize.key"
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def pseudonym(address: str, key: bytes) -> str:
    digest = hmac.new(key, address.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:8]
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return f"addr#{digest}"
    prefix = ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False)
    return f"{prefix}#{digest}"


def pseudonyms(addresses: pl.Series, key: bytes) -> pl.DataFrame:
    """address -> pseudonym, once per distinct address."""
    distinct = addresses.drop_nulls().unique().to_list()
    return pl.DataFrame(
        {"address": distinct, "pseudonym": [pseudonym(a, key) for a in distinct]}, schema={"address": pl.String, "pseudonym": pl.String}
    )


def anonymize_requests(requests: pl.DataFrame, key: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Requests with client_ip and forwarded_for replaced; and the address -> pseudonym table used."""
    first_forwarded = pl.col("forwarded_for").str.split(",").list.first().str.strip_chars()
    addresses = pl.concat([requests["client_ip"].unique().cast(pl.String), requests.select(first_forwarded)["forwarded_for"]])
    table = pseudonyms(addresses, key)
    mapping = dict(table.iter_rows())
    anonymized = requests.with_columns(
        pl.col("client_ip").replace_strict(mapping, default=None, return_dtype=CANONICAL["client_ip"]),
        first_forwarded.replace_strict(mapping, default=None, return_dtype=pl.String).alias("forwarded_for"),
    )
    return anonymized, table


def mask_addresses(text: str) -> str:
    """Addresses inside free text (rejected-line samples) replaced by a marker."""

    def ipv6(m: re.Match[str]) -> str:
        try:
            ipaddress.IPv6Address(m.group(0))
        except ValueError:
            return m.group(0)  # a time such as 10:00:00, not an address
        return "[address]"

    return _IPV6_CANDIDATE.sub(ipv6, _IPV4.sub("[address]", text))
