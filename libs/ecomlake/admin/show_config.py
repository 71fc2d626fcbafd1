"""``ecomlake config``: print the effective configuration after files, environment and flags, with every key."""

from __future__ import annotations

import yaml

from ecomlake.config import Config, as_dict
from ecomlake.job import LocalJob, NoParams


def run(config: Config, params: NoParams) -> None:
    print(f"# effective configuration (from {config.origin}, environment and flags)")
    print(yaml.safe_dump(as_dict(config), sort_keys=False), end="")


JOB = LocalJob("config", "Print the effective configuration after files, environment and flags, with every key", NoParams, run)
