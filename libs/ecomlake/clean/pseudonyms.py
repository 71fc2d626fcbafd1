"""Pseudonymous user ids (``privacy.pseudonymize_user_ids``): an HMAC of each id under a secret key, numbered once per lake.

How it works, and why:

- The source's id is parsed first (``" 0123"`` and ``"123"`` are one user, ``"u42"`` is malformed in both modes),
  then its pseudonym is HMAC-SHA256 of the number's decimal text under the key, the first 128 bits as 32 hex
  digits (silver.user_pseudonyms.pseudonym). Two of 10^9 users share one with probability about 1.5e-21, two
  of 10^10 about 1.5e-19 (birthday bound n^2 / 2^129).
- The HMAC runs on the executors, in Python (mapInPandas) reading the key from a broadcast variable: the key is
  never a literal in a query plan, so ``explain()``, the SQL tab of the UI and the event log cannot show it.
- The lake's tables keep ``user_id`` a LONG (ALS, the joins and the analysts' queries rely on it): each new
  pseudonym gets the next number in silver.user_pseudonyms, the table the numbers are read from. Numbers are
  given in pseudonym order after the highest one so far, so a re-run gives the same numbers.
- The key's fingerprint (an HMAC of a fixed message, which does not reveal the key) is recorded in
  ops.pseudonym_keys on the first pseudonymised run; a run with another key, or with pseudonymisation off,
  stops before reading anything: mixing keys would split every user in two.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import PSEUDONYM_KEYS, SILVER_EVENTS, USER_PSEUDONYMS
from ecomlake.config import Config, PrivacyConfig
from ecomlake.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.core.broadcast import Broadcast

MIN_KEY_BYTES = 32  # RFC 2104: a key shorter than the hash's output (32 bytes for SHA-256) weakens the HMAC
PSEUDONYM_HEX_DIGITS = 32  # 128 bits
_FINGERPRINT_MESSAGE = b"ecomlake pseudonym key fingerprint v1"


@dataclass(frozen=True)
class PseudonymKey:
    """The secret key (never printed: ``repr`` leaves it out) and its fingerprint, which may be recorded and shown."""

    secret: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """HMAC-SHA256 of a fixed message under the key, 16 hex digits: tells keys apart without revealing them."""
        return hmac.new(self.secret, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def load_key(privacy: PrivacyConfig, environ: Mapping[str, str] | None = None) -> PseudonymKey | None:
    """The key from ``privacy.key_file`` or the ``privacy.key_env`` variable (never from YAML), or None when off."""
    if not privacy.pseudonymize_user_ids:
        return None
    environ = os.environ if environ is None else environ
    if privacy.key_file:
        path = Path(privacy.key_file)
        if not path.is_file():
            raise ConfigError(f"privacy.key_file: {path} does not exist (it holds the pseudonymisation key)")
        secret = path.read_bytes().strip()
    else:
        secret = environ.get(privacy.key_env, "").encode()
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigError(
            f"privacy.pseudonymize_user_ids is on, but {_source(privacy)} holds no key of at least {MIN_KEY_BYTES} bytes "
            f"({len(secret)} found); make one with: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return PseudonymKey(secret)


def pseudonym_of(secret: bytes, user_id: int) -> str:
    """The pseudonym of one parsed user id: HMAC-SHA256 of its decimal text, the first 128 bits in hex."""
    return hmac.new(secret, str(user_id).encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_DIGITS]


def with_pseudonyms(user_ids: DataFrame, secret: Broadcast[bytes]) -> DataFrame:
    """:func:`pseudonym_of` each ``source_user_id`` (LONG), on the executors: adds ``pseudonym``; the key comes from the broadcast.

    The built-in ``sha2`` would need the key (XORed into the HMAC's pads) as a literal in the plan, which Spark prints.
    """

    def hash_batches(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        key = secret.value
        for batch in batches:
            yield batch.assign(pseudonym=pd.Series([pseudonym_of(key, int(v)) for v in batch["source_user_id"]], index=batch.index))

    return user_ids.select("source_user_id").mapInPandas(hash_batches, "source_user_id long, pseudonym string")


def new_numbers(pseudonyms: DataFrame, known: DataFrame, after: int, run_date: dt.date, run_id: str) -> DataFrame:
    """The day's pseudonyms silver.user_pseudonyms does not hold yet, numbered ``after + 1``, ``after + 2``, ... in pseudonym order.

    ``pseudonyms``: one column ``pseudonym`` (distinct); ``known``: silver.user_pseudonyms.
    """
    new = pseudonyms.join(known.select("pseudonym"), "pseudonym", how="left_anti")
    # One partition for the day's new users (millions at most): the numbering must be one sequence.
    order = Window.orderBy("pseudonym").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return new.select(
        F.col("pseudonym"),
        (F.lit(after) + F.row_number().over(order)).cast("long").alias("user_id"),
        F.lit(run_date).alias("first_ingest_date"),
        F.lit(run_id).alias("run_id"),
    )


def number_users(spark: SparkSession, config: Config, user_ids: DataFrame, secret: Broadcast[bytes], run_date: dt.date, run_id: str) -> DataFrame:
    """The lake's number for each parsed source id of the day: columns ``source_user_id``, ``user_id`` (both LONG).

    ``user_ids``: the day's distinct parsed ids, column ``source_user_id``. New pseudonyms are added to
    silver.user_pseudonyms first (a MERGE, so two runs numbering at once conflict instead of both committing).
    """
    # Hashed once, then numbered and joined back (Python code is recomputed at every use otherwise).
    hashed = with_pseudonyms(user_ids, secret).localCheckpoint()
    known = lake.read(spark, config, USER_PSEUDONYMS, missing="empty")
    after = known.agg(F.max("user_id")).first()[0] or 0  # type: ignore[index]
    added = new_numbers(hashed.select("pseudonym"), known, after, run_date, run_id)
    lake.insert_new(added, config, USER_PSEUDONYMS, keys=("pseudonym",))
    numbers = lake.read(spark, config, USER_PSEUDONYMS).select("pseudonym", "user_id")
    return hashed.join(numbers, "pseudonym", how="inner").select("source_user_id", "user_id")


def check_key(spark: SparkSession, config: Config, key: PseudonymKey | None, run_date: dt.date, run_id: str) -> None:
    """Stop before a run that would mix pseudonym keys (or pseudonymised and raw ids) in one lake; record a first key.

    Raises ConfigError naming both fingerprints. With pseudonymisation off, a lake that recorded a key is refused.
    """
    recorded = lake.read(spark, config, PSEUDONYM_KEYS, missing="empty").orderBy("recorded_at").collect()
    where = PSEUDONYM_KEYS.qualified_name(config.lake)
    if key is None:
        if recorded:
            first = recorded[0]
            raise ConfigError(
                f"privacy.pseudonymize_user_ids is off, but the lake's users are pseudonymised (key fingerprint {first['fingerprint']} "
                f"in {where} since ingest date {first['first_ingest_date']}): turn it on with that key"
            )
        return
    if recorded:
        fingerprints = sorted({r["fingerprint"] for r in recorded})
        if fingerprints != [key.fingerprint]:
            raise ConfigError(
                f"the pseudonymisation key has changed: {where} records fingerprint {', '.join(fingerprints)} "
                f"(since ingest date {recorded[0]['first_ingest_date']}), the key in {_source(config.privacy)} has {key.fingerprint}. "
                "A new key would give every user a second pseudonym: restore the recorded key, or clean into a new lake (lake.root)"
            )
        return
    if lake.exists(spark, config.lake, SILVER_EVENTS):
        raise ConfigError(
            f"privacy.pseudonymize_user_ids is on, but {SILVER_EVENTS.qualified_name(config.lake)} already holds user ids that were "
            "not pseudonymised (or were, by a version before ops.pseudonym_keys): clean into a new lake (lake.root) from bronze"
        )
    record = {"fingerprint": key.fingerprint, "first_ingest_date": run_date, "recorded_at": dt.datetime.now(dt.UTC), "run_id": run_id}
    lake.append(spark, config, PSEUDONYM_KEYS, [record])


def _source(privacy: PrivacyConfig) -> str:
    return f"privacy.key_file {privacy.key_file}" if privacy.key_file else f"environment variable {privacy.key_env}"
