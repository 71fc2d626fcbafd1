"""``ecomlake config``: print the effective configuration after files, environment and flags, with every key."""

from __future__ import annotations

import yaml

from ecomlake.config import Config, as_dict, redacted_confs, secret_names
from ecomlake.job import LocalJob, NoParams


def run(config: Config, params: NoParams) -> None:
    data = as_dict(config)
    data["spark"]["conf"] = redacted_confs(data["spark"]["conf"], secret_names(config))  # printed: may reach a log
    print(f"# effective configuration (from {config.origin}, environment and flags; secret-looking Spark properties redacted)")
    print(yaml.safe_dump(data, sort_keys=False), end="")


JOB = LocalJob("config", "Print the effective configuration after files, environment and flags, with every key", NoParams, run)
