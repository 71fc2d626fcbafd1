"""Every download is pinned by hash: pip requirements, the Horovod sdist, Delta's jars (docs/stack.md, "Pinned by hash").

No network and no Spark session: the jar tests work on a copy of the machine's jar cache (scripts/setup.sh
fills it) under tmp_path; the Horovod test runs scripts/install_horovod.sh with a stand-in python.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import runpy
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import setuptools

from ecomlake import session
from ecomlake.session import DELTA_JARS, JarChecksumError, cache_delta_jars, cached_delta_jars, jars_dir, recorded_jar_hashes
from tests.support import REPO, config_for

REQUIREMENTS = REPO / "requirements"
FILES = ("analyst", "base", "bench", "build", "dev", "dl")
SPARK_ENV = ("build", "base", "dev", "dl", "bench")  # one virtualenv (scripts/setup.sh)
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)(\s*;.+)?$")
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")
INSTALL_HOROVOD = REPO / "scripts" / "install_horovod.sh"


def pins(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """requirements/<name>.txt as {canonical name: (pin, its hashes)}; asserts every requirement line is a pin with hashes."""
    text = (REQUIREMENTS / f"{name}.txt").read_text()
    assert not text.rstrip().endswith("\\"), f"{name}.txt ends in a line continuation"
    found = {}
    for line in re.sub(r"\\\n", " ", text).splitlines():  # pip joins backslash continuations
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement, *options = re.split(r"\s+(?=--)", line.strip())
        where = f"requirements/{name}.txt: {requirement!r}"
        assert PIN.match(requirement), f"{where} is not pinned as name==version"
        assert options, f"{where} has no --hash (run python scripts/lock_hashes.py)"
        assert all(HASH.match(option) for option in options), f"{where}: {options} are not all --hash=sha256:<64 hex>"
        key = re.sub(r"[-_.]+", "-", requirement.split("==")[0]).lower()
        assert key not in found, f"{where} is pinned twice in the file"
        found[key] = (requirement.split(";")[0].strip(), frozenset(options))
    return found


def test_every_requirement_line_is_pinned_with_its_hashes() -> None:
    assert sorted(p.stem for p in REQUIREMENTS.glob("*.txt")) == sorted(FILES), "a new requirements file: add it to FILES"
    counts = {name: len(pins(name)) for name in FILES}
    assert all(counts.values()), counts


def test_a_release_pinned_in_several_files_has_the_same_hashes_and_one_version_per_environment() -> None:
    seen: dict[str, tuple[str, frozenset[str], str]] = {}
    for name in FILES:
        for key, (pin, hashes) in pins(name).items():
            if key in seen and seen[key][0] == pin:
                assert seen[key][1] == hashes, f"{pin}: {name}.txt and {seen[key][2]}.txt list different hashes"
            if key in seen and name in SPARK_ENV and seen[key][2] in SPARK_ENV:
                assert seen[key][0] == pin, f"the Spark environment pins {seen[key][0]} ({seen[key][2]}.txt) and {pin} ({name}.txt)"
            seen.setdefault(key, (pin, hashes, name))


def setup_arguments(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What setup.py passes to setuptools.setup (run without building anything)."""
    captured: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    runpy.run_path(str(REPO / "setup.py"))
    return captured


def test_setup_py_reads_the_pins_without_their_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    args = setup_arguments(monkeypatch)
    expected = {name: [pin for pin, _ in pins(name).values()] for name in ("base", "dev", "dl", "bench")}
    assert [r.split(";")[0].strip() for r in args["install_requires"]] == expected["base"]
    for extra in ("dev", "dl", "bench"):
        assert [r.split(";")[0].strip() for r in args["extras_require"][extra]] == expected[extra]
    assert 'triton==3.7.1; platform_system == "Linux"' in args["extras_require"]["dl"]  # markers kept


def test_the_jar_hashes_cover_every_delta_jar_and_ship_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = recorded_jar_hashes()
    assert sorted(recorded) == sorted(DELTA_JARS)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in recorded.values())
    assert "delta_jars.sha256" in setup_arguments(monkeypatch)["package_data"]["ecomlake"]


@pytest.fixture
def jar_cache(tmp_path: Path) -> Path:
    """A copy of this machine's Delta jar cache (scripts/setup.sh fills it), as a jars_cache folder of its own."""
    real = jars_dir(config_for(tmp_path).spark)
    if not all((real / name).is_file() for name in DELTA_JARS):
        pytest.fail(f"no Delta jars in {real}: run scripts/setup.sh (it caches them)")
    cache = tmp_path / "jars"
    shutil.copytree(real, cache / real.name)
    return cache


def corrupt(path: Path) -> str:
    """Flip the file's last byte; returns its new sha256."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    return hashlib.sha256(data).hexdigest()


def test_cached_jars_are_used_when_their_hashes_match_and_a_changed_one_is_refused(jar_cache: Path, tmp_path: Path) -> None:
    spark_config = config_for(tmp_path, f"spark.jars_cache={jar_cache}").spark
    assert cached_delta_jars(spark_config) == [str(jars_dir(spark_config) / name) for name in DELTA_JARS]

    jar = jars_dir(spark_config) / "io.delta_delta-storage-4.0.1.jar"
    actual = corrupt(jar)
    with pytest.raises(JarChecksumError) as caught:
        cached_delta_jars(spark_config)
    message = str(caught.value)
    assert str(jar) in message and actual in message and recorded_jar_hashes()[jar.name] in message
    assert f"Delete {jar_cache}" in message and "scripts/setup.sh" in message


class _FakeSession:
    """Stands in for SparkSession: cache_delta_jars' ivy resolution 'resolves' nothing new (the test places the jars)."""

    builder: _FakeSession

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self  # master(), appName(), config(), getOrCreate(), stop()


_FakeSession.builder = _FakeSession()


def test_a_resolved_jar_with_another_hash_never_reaches_the_cache(jar_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spark_config = config_for(tmp_path, f"spark.jars_cache={jar_cache}").spark
    ivy_jars = jar_cache / "ivy" / "jars"
    ivy_jars.parent.mkdir()
    jars_dir(spark_config).rename(ivy_jars)  # as ivy leaves them; the cache folder is empty
    corrupt(ivy_jars / "org.antlr_antlr4-runtime-4.13.1.jar")
    monkeypatch.setattr(session, "SparkSession", _FakeSession)
    with pytest.raises(JarChecksumError, match="org.antlr_antlr4-runtime-4.13.1.jar: sha256"):
        cache_delta_jars(spark_config)
    assert not any(jars_dir(spark_config).glob("*.jar")), "a jar was copied into the cache before the check"


def fake_sdist(folder: Path) -> Path:
    """A tarball named like horovod's sdist, with the CMakeLists.txt line the script patches."""
    src = folder / "horovod-0.28.1"
    src.mkdir(parents=True)
    (src / "CMakeLists.txt").write_text("set(CMAKE_CXX_STANDARD 14)\n")
    sdist = folder / "horovod-0.28.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return sdist


def bash(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script, "bash", *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def test_install_horovod_refuses_an_sdist_whose_sha256_is_not_the_recorded_one(tmp_path: Path) -> None:
    sdist = fake_sdist(tmp_path / "pypi")
    actual = hashlib.sha256(sdist.read_bytes()).hexdigest()
    recorded = re.search(r"^HVD_SDIST_SHA256=([0-9a-f]{64})$", INSTALL_HOROVOD.read_text(), re.M)
    assert recorded, "scripts/install_horovod.sh records no HVD_SDIST_SHA256"
    # Stand-ins: a python whose torch imports and whose `pip download` yields the fake sdist; a cmake 3.x.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(
        "#!/usr/bin/env bash\n"
        'if [[ $1 == -c && $2 == *torch.__version__* ]]; then echo "py311 2.13.0"; exit 0; fi\n'
        'if [[ $1 == -m && $3 == download ]]; then while [[ $# -gt 0 && $1 != -d ]]; do shift; done; cp "$FAKE_SDIST" "$2/"; exit 0; fi\n'
        "exit 1\n"
    )
    (bin_dir / "cmake").write_text("#!/usr/bin/env bash\necho 'cmake version 3.28.3'\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": str(bin_dir / "python"), "FAKE_SDIST": str(sdist), "ECOMLAKE_CACHE": str(tmp_path / "cache")}
    run = subprocess.run(["bash", str(INSTALL_HOROVOD)], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert run.returncode != 0
    assert f"horovod-0.28.1.tar.gz: sha256 {actual}, expected {recorded[1]}" in run.stderr, run.stdout + run.stderr
    assert "C++17 patch" not in run.stderr + run.stdout and "building the wheel" not in run.stdout  # stopped before extracting

    # The check itself (the script sourced defines it): a matching file passes, another fails.
    check = f'source "{INSTALL_HOROVOD}"; check_sha256 "$1" "$2"'
    assert bash(check, str(sdist), actual).returncode == 0
    assert bash(check, str(sdist), "0" * 64).returncode == 1


def load_lock_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_hashes", REPO / "scripts" / "lock_hashes.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lock_script_keeps_comments_and_markers_and_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock_hashes = load_lock_script()
    # Offline: two made-up hashes per release instead of the index's.
    fake_hashes = lambda name, version: [hashlib.sha256(f"{name}{version}{i}".encode()).hexdigest() for i in (1, 2)]
    monkeypatch.setattr(lock_hashes, "release_hashes", fake_hashes)
    path = tmp_path / "reqs.txt"
    path.write_text('# why 1.0\nfoo==1.0\n\n# Linux only\nbar==2.0; platform_system == "Linux" \\\n    --hash=sha256:' + "0" * 64 + "\n")
    locked = lock_hashes.lock(path)
    path.write_text(locked)
    assert lock_hashes.lock(path) == locked
    assert locked.startswith("# why 1.0\nfoo==1.0 \\\n    --hash=sha256:") and "\n\n# Linux only\n" in locked
    assert 'bar==2.0; platform_system == "Linux" \\\n' in locked and "0" * 64 not in locked  # stale hashes replaced
