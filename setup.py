"""Packaging for ecomlake: the library lives src-style under libs/.

Every dependency is pinned exactly in requirements/*.txt; this file reads them so that the
package metadata and the setup script can never disagree.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def pinned(name: str) -> list[str]:
    """Return the pins in requirements/<name>.txt: ``name==version[; marker]``, without comments and options.

    The files are pip's hash-checking format (scripts/lock_hashes.py): a pin's ``--hash=...`` options
    follow it on backslash-continued lines, which pip joins and install_requires must not see.
    """
    text = re.sub(r"\\\n", " ", (HERE / "requirements" / f"{name}.txt").read_text())
    pins = (re.split(r"(?:^|\s)(?:#|--)", line, maxsplit=1)[0].strip() for line in text.splitlines())
    return [pin for pin in pins if pin]


def version() -> str:
    """Read __version__ without importing the package (its dependencies may not be installed yet)."""
    for line in (HERE / "libs" / "ecomlake" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("libs/ecomlake/__init__.py has no __version__")


setup(
    name="ecomlake",
    version=version(),
    description="Spark + Delta Lake job suite: e-commerce behaviour events to a lakehouse and models",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires="==3.11.*",
    package_dir={"": "libs"},
    packages=find_packages("libs"),
    include_package_data=True,
    # data/: real samples (ecomlake.datasets); delta_jars.sha256: the Delta jars' recorded hashes (ecomlake.session).
    package_data={"ecomlake": ["py.typed", "delta_jars.sha256", "sources/*.yaml", "data/*/*.csv", "data/*/README.md"]},
    install_requires=pinned("base"),
    extras_require={"dev": pinned("dev"), "dl": pinned("dl"), "bench": pinned("bench")},
    entry_points={"console_scripts": ["ecomlake=ecomlake.cli:main"]},
)
