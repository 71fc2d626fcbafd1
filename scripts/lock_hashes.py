"""Write the sha256 of every file of each pinned release into requirements/*.txt (pip's --require-hashes).

    python scripts/lock_hashes.py [--check] [requirements/FILE.txt ...]   (default: every requirements/*.txt)

Run it with the project's python after changing a pin: for each ``name==version`` line it asks the
package index (PyPI's simple API in its JSON form, PEP 691: what pip itself reads) for every file of
that release and writes all their hashes under the pin, as ``pip-compile --generate-hashes`` does, so
any platform's wheel or the sdist passes. Comments, markers and order are kept; old hashes are
replaced. ``--check`` changes nothing and exits 1 when a file's hashes differ from the index's.
Needs only the standard library and ``packaging`` (pinned in base.txt and analyst.txt).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import urllib.request
from pathlib import Path

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)\s*(?P<marker>;.*)?$")


def logical_lines(text: str) -> list[str]:
    """The file's lines with backslash continuations joined, as pip reads them."""
    return re.sub(r"\\\n", " ", text).splitlines()


def requirement(line: str) -> str:
    """A logical line without its comment and options (``--hash=...``): ``name==version[; marker]`` or ''."""
    return re.split(r"(?:^|\s)#|(?:^|\s)--", line, maxsplit=1)[0].strip()


@functools.cache  # a package pinned in several files is asked for once
def release_hashes(name: str, version: str) -> list[str]:
    """The sha256 of every file of ``name==version`` on the index, sorted; an error when there is none."""
    url = f"{INDEX}/{canonicalize_name(name)}/"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    wanted, hashes = Version(version), set()
    for file in files:
        filename = file["filename"]
        try:
            _, file_version, *_ = parse_wheel_filename(filename) if filename.endswith(".whl") else parse_sdist_filename(filename)
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue  # eggs, .exe installers, odd names: pip does not pick them either
        if file_version == wanted:
            hashes.add(file["hashes"]["sha256"])
    if not hashes:
        raise SystemExit(f"lock_hashes: {url} has no file of {name}=={version}: is the version right?")
    return sorted(hashes)


def shown(path: Path) -> str:
    """``path`` relative to the repo when it is inside it (messages)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def lock(path: Path) -> str:
    """The text of ``path`` with every pin followed by its release's hashes."""
    out: list[str] = []
    for number, line in enumerate(logical_lines(path.read_text()), 1):
        pin = requirement(line)
        if not pin:
            out.append(line.rstrip())  # a comment or a blank line, kept as it is
            continue
        match = PIN.match(pin)
        if not match:
            raise SystemExit(f"lock_hashes: {shown(path)} line {number}: {pin!r} is not pinned as name==version")
        hashes = release_hashes(match["name"], match["version"])
        out.append(f"{pin} \\")
        out.extend(f"    --hash=sha256:{h}" + (" \\" if i < len(hashes) - 1 else "") for i, h in enumerate(hashes))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file's hashes are not the index's")
    parser.add_argument("files", nargs="*", type=Path, help="requirement files (default: requirements/*.txt)")
    args = parser.parse_args(argv)
    stale = []
    for path in [p.resolve() for p in args.files] or sorted((REPO / "requirements").glob("*.txt")):
        locked = lock(path)
        if locked != path.read_text():
            stale.append(shown(path))
            if not args.check:
                path.write_text(locked)
    verb = "differ from the index: run python scripts/lock_hashes.py" if args.check else "rewritten"
    print(f"lock_hashes: {', '.join(stale) or 'nothing'} {verb if stale else 'to change'}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
