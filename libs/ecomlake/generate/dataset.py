"""Generate a data set: events with faults, written as files, and the manifest beside them."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake.config import GeneratorConfig
from ecomlake.generate import catalog, output, traffic
from ecomlake.generate.faults import inject_faults
from ecomlake.manifest import write_manifest

log = logging.getLogger(__name__)


def generate_dataset(spark: SparkSession, config: GeneratorConfig) -> dict[str, Any]:
    """Write ``config.events`` (about) events plus bots and faults to ``config.output``; return the manifest.

    Example:
        >>> manifest = generate_dataset(spark, GeneratorConfig(events=10_000, output="/tmp/ev"))  # doctest: +SKIP
        >>> manifest["totals"]["faults"]["duplicate"]  # doctest: +SKIP
        101
    """
    assert config.output, "load_config resolves generator.output"
    plan = traffic.plan(config)
    log.info(
        "generating ~%d events for %d users, %d products, %d day(s) from %s into %d partition(s)",
        plan.expected_rows,
        plan.n_users,
        plan.n_products,
        config.days,
        config.start_date,
        plan.partitions,
    )
    events = traffic.generate_events(spark, plan)
    with_faults = inject_faults(events, config.seed, config.faults, has_text_format=config.format != "parquet")
    output.write_events(with_faults, config.format, config.output)
    # A second, cheaper pass (no text rendering) counts what went in; the draws are hashes, so it
    # sees exactly the rows just written without keeping them in memory or on disk.
    per_date = [row.asDict() for row in output.manifest_counts(with_faults).collect()]
    bot_users = traffic.user_frame(spark, plan).where(F.col("is_bot")).count()
    header = {
        "generator": dataclasses.asdict(config),
        "layout": "rees46",
        "format": config.format,
        "users": plan.n_users,
        "bot_users": bot_users,
        "products": plan.block * len(catalog.CATEGORIES),
        "partitions": plan.partitions,
    }
    manifest = output.build_manifest(per_date, header)
    write_manifest(config.output, manifest, spark)
    return json.loads(json.dumps(manifest, default=str))  # as read back: dates as ISO strings
