"""How requests are numbered and linked, fast: a dense integer per client, each request's client's next and
previous request as row numbers, two integers packed in one. These are speed tricks, not rules: the rules
(rules.py) read the columns they make."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import polars as pl

from ..schema import CODED


@lru_cache(maxsize=1 << 18)  # `logscope watch` names the same clients batch after batch
def client_id(ip: str | None, user_agent: str | None) -> str:
    """A short id, stable across runs and versions, for one (IP, User-Agent) pair."""
    key = f"{ip or ''}\x00{'' if user_agent is None else user_agent}\x00{user_agent is None}"
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=5).hexdigest()


#: A client's two codes packed in one 64-bit integer need codes below this (codes + 1, null as 0).
_PACKABLE = 2**32 - 1
PAIR_BASE = 2**32  # pair_key(high, low) // PAIR_BASE == high


def pair_key(high: pl.Expr, low: pl.Expr) -> pl.Expr:
    """Two 32-bit integers as one 64-bit key: grouping or deduplicating one integer column is much cheaper
    than two. `// PAIR_BASE` gives `high` back."""
    return high.cast(pl.UInt64) * PAIR_BASE + low.cast(pl.UInt64)


def _client_keys(requests: pl.DataFrame) -> pl.Series:
    """A dense integer per (IP, User-Agent) pair, numbered in order of first appearance.

    Both columns are coded, so a pair is two integers, packed into one (exact: null is its own value)
    and numbered by a group-by of the packed keys; codes too large to pack take a two-column join.
    """
    codes = requests.select(pl.col("client_ip").to_physical().alias("ip"), pl.col("user_agent").to_physical().alias("ua"))
    if max(codes["ip"].max() or 0, codes["ua"].max() or 0) >= _PACKABLE - 1:  # type: ignore[operator]
        return _client_keys_joined(codes)
    shifted = [(pl.col(c).cast(pl.UInt64) + 1).fill_null(0) for c in ("ip", "ua")]  # null is 0, its own value
    packed = codes.select(pair_key(*shifted).alias("pair"))["pair"]
    first = packed.to_frame().with_row_index("seq").group_by("pair").agg(pl.col("seq").min()).sort("seq").with_row_index("ckey")
    return packed.replace_strict(first["pair"], first["ckey"], return_dtype=pl.UInt32).alias("ckey")


def _client_keys_joined(codes: pl.DataFrame) -> pl.Series:
    """`_client_keys` for any codes: the pairs numbered in order of first appearance, joined back."""
    pairs = codes.with_row_index("seq").group_by("ip", "ua").agg(pl.col("seq").min()).sort("seq").with_row_index("ckey").drop("seq")
    return codes.join(pairs, on=["ip", "ua"], how="left", nulls_equal=True, maintain_order="left")["ckey"]


def _with_client_ids(requests: pl.DataFrame) -> pl.DataFrame:
    """Add `client_id` (stable, for reports) and `ckey` (a dense integer, for fast grouping)."""
    ckey = _client_keys(requests)
    first = ckey.arg_unique()  # the first row of each ckey, in ckey order
    pairs = requests.select(pl.col("client_ip").gather(first), pl.col("user_agent").gather(first))
    # Built as strings, then coded: faster than coding while building from Python.
    ids = pl.Series("client_id", list(map(client_id, pairs["client_ip"].to_list(), pairs["user_agent"].to_list())), pl.String)
    ids = ids.cast(CODED)
    return requests.with_columns(ckey, ids.gather(ckey))


def _client_sequence(ckey: pl.Series) -> tuple[pl.Series, pl.Series]:
    """For each request, the row number of the same client's next and previous request (null at either end).

    Requests are in time order (ties in input order), so a stable sort by client lists each client's
    requests in order; only the two integer columns are sorted.
    """
    ordered = ckey.to_frame("ckey").with_row_index("seq").sort("ckey", maintain_order=True)
    same_next = pl.col("ckey").shift(-1) == pl.col("ckey")
    same_prev = pl.col("ckey").shift(1) == pl.col("ckey")
    links = ordered.select(
        "seq",
        pl.when(same_next).then(pl.col("seq").shift(-1)).alias("next_seq"),
        pl.when(same_prev).then(pl.col("seq").shift(1)).alias("prev_seq"),
    )
    return _pair_at_rows(ckey.len(), links["seq"], links["next_seq"], links["prev_seq"])


def _at_rows(height: int, seq: pl.Series, values: pl.Series) -> pl.Series:
    """A column of `height` rows holding `values` at row numbers `seq`, null elsewhere (no join needed)."""
    return pl.repeat(None, height, dtype=values.dtype, eager=True).scatter(seq, values).alias(values.name)


_NO_VALUE = PAIR_BASE - 1  # null, in one half of a packed pair: row numbers (UInt32) stay below it


def _pair_at_rows(height: int, seq: pl.Series, first: pl.Series, second: pl.Series) -> tuple[pl.Series, pl.Series]:
    """`_at_rows` of two row numbers (UInt32) at the same rows, in one scatter: writing to rows in random
    order is bound by memory, so the two go packed in one 64-bit integer (null as _NO_VALUE)."""
    halves = [s.cast(pl.UInt64).fill_null(_NO_VALUE) for s in (first, second)]
    empty = pl.repeat(_NO_VALUE * PAIR_BASE + _NO_VALUE, height, dtype=pl.UInt64, eager=True)
    placed = empty.scatter(seq, halves[0] * PAIR_BASE + halves[1]).to_frame("pair")
    out = placed.select((pl.col("pair") // PAIR_BASE).alias(first.name), (pl.col("pair") % PAIR_BASE).alias(second.name)).select(
        pl.when(pl.col(s.name) != _NO_VALUE).then(pl.col(s.name)).cast(s.dtype) for s in (first, second)
    )
    return out[first.name], out[second.name]
