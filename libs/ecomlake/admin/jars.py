"""``ecomlake jars``: resolve Delta Lake's jars from Maven Central into the local jar cache (setup does this once)."""

from __future__ import annotations

from ecomlake.config import Config
from ecomlake.job import LocalJob, NoParams


def run(config: Config, params: NoParams) -> None:
    from ecomlake.session import cache_delta_jars

    for path in cache_delta_jars(config.spark):
        print(path)


JOB = LocalJob("jars", "Resolve Delta Lake's jars from Maven Central into the local jar cache (setup does this once)", NoParams, run)
