"""Identity of a run: its id, the code version and the moment it started."""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from functools import cache
from importlib import resources
from pathlib import Path

from ecomlake import __version__

VERSION_FILE = "VERSION"  # only in package zips (see ecomlake.submit.package_zip)


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id such as ``20261123T190512Z-3f2a9c1b``."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@cache
def code_version() -> str:
    """The package version, plus the git commit when running from a checkout (``0.1.0+g1a2b3c4``).

    In a package zip built by ``ecomlake submit`` the version comes from its ``VERSION`` file, written from the checkout.
    """
    shipped = resources.files("ecomlake") / VERSION_FILE
    if shipped.is_file():
        return shipped.read_text().strip()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}" if sha else __version__
