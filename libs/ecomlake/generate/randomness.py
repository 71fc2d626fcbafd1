"""Deterministic random draws as column functions: the same (seed, salt, keys) give the same value."""

from __future__ import annotations

import math

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO_POW_53 = float(1 << 53)


def uniform(seed: int, salt: str, *keys: Column) -> Column:
    """A uniform double in [0, 1) from a 64-bit hash of the seed, a salt naming the draw, and keys.

    Example:
        >>> spark.range(3).select(uniform(7, "price", F.col("id")).alias("u"))  # doctest: +SKIP
    """
    hashed = F.xxhash64(F.lit(seed), F.lit(salt), *keys)
    return F.shiftrightunsigned(hashed, 11).cast("double") / F.lit(_TWO_POW_53)


def standard_normal(seed: int, salt: str, *keys: Column) -> Column:
    """A standard normal draw (Box-Muller on two independent uniforms)."""
    u1 = F.lit(1.0) - uniform(seed, f"{salt}#1", *keys)  # in (0, 1]: log is finite
    u2 = uniform(seed, f"{salt}#2", *keys)
    return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2 * math.pi) * u2)


def zipf_index(u: Column, n: Column | int) -> Column:
    """Map a uniform to 0..n-1 with P(i) roughly proportional to 1/(i+1): log-uniform ranks."""
    n_col = n if isinstance(n, Column) else F.lit(n)
    # (n+1)^u lies in [1, n+1), so the floor minus one is in 0..n-1 with P(i) = log((i+2)/(i+1)) / log(n+1).
    return F.floor(F.pow((n_col + 1).cast("double"), u)).cast("long") - 1


def index(u: Column, n: Column | int) -> Column:
    """Map a uniform to 0..n-1 evenly."""
    n_col = n if isinstance(n, Column) else F.lit(n)
    return F.floor(u * n_col).cast("long")
