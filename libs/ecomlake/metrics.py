"""Resource figures for run summaries and benchmarks (Linux /proc; None elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        kids.extend(int(k) for k in text)
    return kids


def peak_rss_mib() -> float | None:
    """Peak resident memory of this process plus its live descendants (the local Spark JVM), in MiB."""
    if not Path("/proc/self/status").exists():
        return None
    total, stack = 0, [os.getpid()]
    while stack:
        pid = stack.pop()
        try:
            total += _peak_rss_kib(pid)
            stack.extend(_children(pid))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # the process ended meanwhile
    return total / 1024
