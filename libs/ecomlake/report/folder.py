"""The report's folder: a report replaces its whole folder, so it writes only into a new, empty or earlier report's one.

A report folder holds a marker, ``.ecomlake-report`` (JSON: the folder format's version and the files the report
wrote), beside report.html and the PNG charts. Before anything is written, :func:`require_replaceable` refuses
(ConfigError, exit 2) a path that is a file or a symbolic link, or a folder holding anything the report did not
write: ``--out .`` or ``--out ~`` must never empty the working or home folder. A folder with report.html and
chart PNGs only and no marker is a report from before the marker, and is replaced too.

:func:`replace` swaps a finished report (written in a sibling staging folder) into place: the earlier report is
renamed aside, the new one renamed in, the earlier one deleted; if the second rename fails, the earlier report is
put back, so a failure never loses it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ecomlake.errors import ConfigError

MARKER = ".ecomlake-report"
FORMAT_VERSION = 1
PAGE = "report.html"


def write_marker(folder: Path, files: list[Path]) -> None:
    """Mark ``folder`` as a report's, listing the files the report wrote (so a later run knows what it may replace)."""
    marker = {"format": FORMAT_VERSION, "files": sorted(p.name for p in files)}
    (folder / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")


def unexpected_entries(folder: Path, chart_names: frozenset[str]) -> list[str]:
    """The entries of an existing ``folder`` that no report wrote (empty: the folder is empty or an earlier report)."""
    entries = {p.name: p for p in folder.iterdir()}
    marker = entries.pop(MARKER, None)
    if marker is not None:
        try:
            written = set(json.loads(marker.read_text(encoding="utf-8"))["files"])
        except (OSError, ValueError, KeyError, TypeError):
            return sorted([MARKER, *entries])  # not a marker this code wrote: nothing in the folder is known to be the report's
    elif entries:
        # An earlier report, written before the marker: the page and charts only, by their names.
        written = {PAGE, *(f"{name}.png" for name in chart_names)} if PAGE in entries else set()
    else:
        written = set()
    return sorted(name for name, path in entries.items() if name not in written or path.is_symlink() or not path.is_file())


def require_replaceable(out: Path, chart_names: frozenset[str]) -> None:
    """Refuse (ConfigError) a report folder ``out`` that is not new, empty or an earlier report: nothing is deleted."""
    advice = "choose a new or empty folder for the report (e.g. --out reports/<date>)"
    if out.is_symlink():
        raise ConfigError(f"report folder {out}: refused, it is a symbolic link and the report replaces its folder whole; {advice}")
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"report folder {out}: refused, it exists and is not a folder; {advice}")
    unexpected = unexpected_entries(out, chart_names)
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else "")
        raise ConfigError(
            f"report folder {out}: refused, it holds files a report did not write ({shown}), and a report replaces its whole "
            f"folder; nothing was deleted; {advice}"
        )


def replace(staging: Path, out: Path, chart_names: frozenset[str]) -> None:
    """Move the finished report ``staging`` to ``out``, replacing an empty folder or an earlier report there."""
    require_replaceable(out, chart_names)  # again: the folder may have changed while the figures were read
    if not out.exists():
        staging.rename(out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    out.rename(aside / out.name)
    try:
        staging.rename(out)
    except BaseException:
        (aside / out.name).rename(out)  # the earlier report back where it was (if this fails too, it stays in aside)
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)
