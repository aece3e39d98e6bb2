"""--asn-db: owners from a MaxMind-format database (GeoLite2-ASN, DB-IP ASN lite, IPinfo lite).

Read with the `maxminddb` library, once per distinct address. A provider's published range names the
network first; the database's AS organisation names what no range covers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from ..errors import InputError

ASN_SCHEMA = {"ip": pl.String, "asn": pl.Int64, "as_org": pl.String, "country": pl.String}


def _fields(record: dict[str, Any] | None) -> tuple[int | None, str | None, str | None]:
    """(ASN, organisation, country) from the record shapes of the common free databases."""
    if not record:
        return None, None, None
    asn = record.get("autonomous_system_number")
    org = record.get("autonomous_system_organization")
    if asn is None and isinstance(record.get("asn"), str | int):  # IPinfo lite: "AS15169"
        text = str(record["asn"]).upper().removeprefix("AS")
        asn = int(text) if text.isdigit() else None
        org = record.get("as_name") or record.get("as_domain")
    country = record.get("country_code")
    if country is None and isinstance(record.get("country"), dict):  # GeoLite2-Country / City
        country = record["country"].get("iso_code")
    return (int(asn) if asn is not None else None), org, country


def asn_lookup(ips: pl.Series, database: Path) -> pl.DataFrame:
    """One row per distinct address: ASN, organisation and country from the database (nulls if absent)."""
    import maxminddb

    try:
        reader = maxminddb.open_database(str(database))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise InputError(f"{database}: not a readable MaxMind-format database ({exc})") from None
    rows = []
    with reader:
        for ip in ips.drop_nulls().unique().to_list():
            try:
                record = reader.get(ip.strip("[]"))
            except ValueError:  # not an address (a pseudonym, a unix socket)
                record = None
            rows.append((ip, *_fields(record if isinstance(record, dict) else None)))
    return pl.DataFrame(rows, schema=ASN_SCHEMA, orient="row")


def merge_owners(owners: pl.DataFrame, asn: pl.DataFrame) -> pl.DataFrame:
    """Provider ranges first; the database fills the network (AS organisation), ASN and country."""
    merged = owners.join(asn, on="ip", how="left", suffix="_db")
    return merged.select(
        "ip",
        pl.coalesce("network", "as_org").alias("network"),
        "service",
        "region",
        pl.coalesce("country", "country_db").alias("country"),
        pl.coalesce("asn", "asn_db").alias("asn"),
    )
