"""Start ``num_proc`` training processes from the driver and return rank 0's result.

Three launchers, one worker function (``ecomlake.lstm.train.train_worker``):

- ``horovod``: ``horovod.spark.run`` inside the driver's Spark application (one Spark task per process,
  Gloo controller unless Horovod was built with MPI and the run is on GPUs);
- ``horovodrun``: a plain ``horovodrun -np N -H localhost:N --gloo python -m ecomlake.lstm.worker spec.json``
  subprocess on this machine (no Spark needed); its output goes to ``<checkpoint_dir>/horovodrun/horovodrun.log``;
- ``torch_distributor``: Spark's ``TorchDistributor(num_processes=N, local_mode=False)``, torchrun and
  torch.distributed underneath (the maintained Spark-native launcher).

A failing worker fails the launch with ``StepFailedError`` quoting the end of the workers' output (no hang:
horovodrun and horovod.spark.run end the job when a process exits non-zero, Spark's barrier stage does for
TorchDistributor, and ``timeout_s`` bounds a horovodrun launch). Child processes get a PYTHONPATH that starts
with this checkout's ``libs`` (absolute), so they import the same ``ecomlake`` as the driver.
``ECOMLAKE_LSTM_FAIL_AFTER_EPOCH`` in the driver's environment sets ``spec.fail_after_epoch`` (fault injection).

Example:
    >>> spec = TrainSpec.create("/lake/sequences/2019-10-07", config.lstm, "/lake/models/lstm/20191007-ab12cd34")  # doctest: +SKIP
    >>> launch(spark, spec, "horovod", num_proc=2)["best_val_loss"]  # doctest: +SKIP
    0.913
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ecomlake
from ecomlake.errors import StepFailedError
from ecomlake.lstm.train import ENV_FAIL_AFTER_EPOCH, TrainSpec, failures_dir, launch_id, train_worker
from ecomlake.lstm.worker import RESULT_NAME

log = logging.getLogger(__name__)

LAUNCHERS = ("horovod", "horovodrun", "torch_distributor")
BACKEND = {"horovod": "horovod", "horovodrun": "horovod", "torch_distributor": "torch"}
TAIL_LINES = 30  # output lines quoted in a launch failure
KEPT_LINES = 5_000  # output lines searched for the workers' exceptions
START_TIMEOUT_S = 120


def libs_dir() -> Path:
    """The folder this ``ecomlake`` package is imported from (``<checkout>/libs`` or site-packages)."""
    return Path(ecomlake.__file__).resolve().parents[1]


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with PYTHONPATH = this ``libs`` + the old entries, all absolute."""
    env = dict(os.environ if base is None else base)
    entries = [str(libs_dir())] + [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(entries))
    return env


def with_fault_injection(spec: TrainSpec, environ: Mapping[str, str] | None = None) -> TrainSpec:
    """``spec`` with ``fail_after_epoch`` from ``ECOMLAKE_LSTM_FAIL_AFTER_EPOCH`` when the spec sets none."""
    raw = (os.environ if environ is None else environ).get(ENV_FAIL_AFTER_EPOCH, "").strip()
    if not raw or spec.fail_after_epoch is not None:
        return spec
    try:
        return dataclasses.replace(spec, fail_after_epoch=int(raw))
    except ValueError:
        raise StepFailedError(f"{ENV_FAIL_AFTER_EPOCH} must be an epoch number, got {raw!r}") from None


def launch(spark: Any, spec: TrainSpec, launcher: str, num_proc: int, *, timeout_s: float | None = None) -> dict[str, Any]:
    """Run ``train_worker`` in ``num_proc`` processes with ``launcher``; rank 0's result, plus ``launcher`` and ``wall_seconds``.

    ``spark`` is the driver's session (unused by ``horovodrun``, which may get None). ``timeout_s`` bounds a
    horovodrun launch; the Spark launchers end when their Spark job does.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
    if num_proc < 1:
        raise ValueError(f"num_proc must be >= 1, got {num_proc}")
    spec = dataclasses.replace(
        with_fault_injection(spec),
        dataset_dir=str(Path(spec.dataset_dir).resolve()),  # the workers' working folder is not the driver's
        checkpoint_dir=str(Path(spec.checkpoint_dir).resolve()),
        backend=BACKEND[launcher],
        launched_at=time.time(),
    )
    Path(spec.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    log.info("training the LSTM with %s on %d processes; checkpoints in %s", launcher, num_proc, spec.checkpoint_dir)
    if launcher == "horovod":
        result = _horovod_spark(spec, num_proc)
    elif launcher == "horovodrun":
        result = _horovodrun(spec, num_proc, timeout_s)
    else:
        result = _torch_distributor(spec, num_proc)
    result = dict(result, launcher=launcher, wall_seconds=time.perf_counter() - start)
    return result


class _TeeTail(io.TextIOBase):
    """A text stream that passes writes on to ``target`` and keeps the last lines (for the error message)."""

    def __init__(self, target: Any, lines: int = KEPT_LINES) -> None:
        self._target = target
        self.tail: collections.deque[str] = collections.deque(maxlen=lines)
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str | bytes) -> int:  # some writers hand bytes to sys.stdout's stand-in
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        self._target.write(text)
        chunks = (self._partial + text).split("\n")
        self._partial = chunks.pop()
        self.tail.extend(chunks)
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def text(self) -> str:
        return "\n".join([*self.tail, self._partial]).strip()


_RANK_PREFIX = re.compile(r"^(?:\[\d+\]<std(?:out|err)>:)?")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b(?::.*)?$")


def worker_errors(output: str) -> list[str]:
    """The exception lines (``RuntimeError: ...``) of the workers' tracebacks in ``output``, in order, without repeats."""
    found = []
    for line in output.splitlines():
        body = _RANK_PREFIX.sub("", line, count=1)
        if _EXCEPTION_LINE.match(body) and "Horovod detected" not in body:
            found.append(line.strip())
    return list(dict.fromkeys(found))


def recorded_failures(spec: TrainSpec) -> dict[str, str]:
    """The tracebacks the workers of this launch recorded (``failures/<launch>-rank<r>.txt``), by file name, first failure first
    (the others are usually its echo: a peer that hung up, Horovod shut down)."""
    folder = failures_dir(spec)
    if not folder.is_dir():
        return {}
    files = sorted(folder.glob(f"{launch_id(spec)}-rank*.txt"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return {p.name: p.read_text(errors="replace") for p in files}


def _failed(launcher: str, spec: TrainSpec, error: BaseException, output: str) -> StepFailedError:
    """The driver's error: what the launcher said (first lines), each worker's exception, the end of the output."""
    recorded = recorded_failures(spec)
    errors = [f"{name.rsplit('-', 1)[-1].removesuffix('.txt')}: {text.strip().splitlines()[-1]}" for name, text in recorded.items()]
    errors = errors or worker_errors(output)
    said = "\n".join(str(error).strip().splitlines()[:4])
    summary = "\nworker errors:\n  " + "\n  ".join(errors[:10]) if errors else ""
    where = f"\n(tracebacks in {failures_dir(spec)})" if recorded else ""
    last = "\n".join(output.strip().splitlines()[-TAIL_LINES:])
    tail = f"\n--- last lines of the output ---\n{last}" if last else ""
    return StepFailedError(f"LSTM training with {launcher} failed: {type(error).__name__}: {said}{summary}{where}{tail}")


def _rank0(results: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in results if r.get("rank") == 0)


def _horovod_spark(spec: TrainSpec, num_proc: int) -> dict[str, Any]:
    import horovod.spark
    import horovod.torch as hvd

    use_gpu = bool(spec.config.get("use_gpu"))
    use_gloo = not (use_gpu and hvd.mpi_built())  # Gloo here (no MPI in this build); MPI when a GPU cluster's Horovod has it
    out, err = _TeeTail(sys.stdout), _TeeTail(sys.stderr)
    try:
        results = horovod.spark.run(
            train_worker,
            args=(spec, "horovod"),
            num_proc=num_proc,
            use_gloo=use_gloo,
            use_mpi=not use_gloo,
            env=child_env(),
            start_timeout=START_TIMEOUT_S,
            stdout=out,
            stderr=err,
            verbose=1,
        )
    except Exception as e:
        raise _failed("horovod.spark.run", spec, e, "\n".join(filter(None, (out.text(), err.text())))) from e
    return _rank0(results)


def _horovodrun(spec: TrainSpec, num_proc: int, timeout_s: float | None) -> dict[str, Any]:
    run_dir = Path(spec.checkpoint_dir) / "horovodrun"
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_path, result_path, log_path = run_dir / "spec.json", run_dir / RESULT_NAME, run_dir / "horovodrun.log"
    spec_path.write_text(spec.to_json())
    result_path.unlink(missing_ok=True)
    horovodrun = Path(sys.executable).parent / "horovodrun"
    cmd = [str(horovodrun), "-np", str(num_proc), "-H", f"localhost:{num_proc}", "--gloo", "--start-timeout", str(START_TIMEOUT_S)]
    cmd += [sys.executable, "-m", "ecomlake.lstm.worker", str(spec_path)]
    with open(log_path, "a") as out:
        out.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
        out.flush()
        # A session of its own: on a timeout the whole process group (horovodrun and its workers) is ended.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            _kill_group(proc)
            raise _failed("horovodrun", spec, e, _launch_output(log_path)) from None
        except BaseException:
            _kill_group(proc)
            raise
    if code != 0:
        raise _failed("horovodrun", spec, RuntimeError(f"{' '.join(cmd)} exited with {code} (log: {log_path})"), _launch_output(log_path))
    if not result_path.is_file():
        raise _failed("horovodrun", spec, RuntimeError(f"rank 0 wrote no {result_path}"), _launch_output(log_path))
    return json.loads(result_path.read_text())


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the launch's process group, SIGKILL it if still alive 5 s later."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _launch_output(path: Path) -> str:
    """This launch's part of the (appended) log: the lines after its last ``===`` header (at most 5,000)."""
    with open(path, errors="replace") as f:
        lines = list(collections.deque(f, maxlen=KEPT_LINES))
    starts = [i for i, line in enumerate(lines) if line.startswith("=== ")]
    return "".join(lines[starts[-1] + 1 :] if starts else lines)


def _torch_distributor(spec: TrainSpec, num_proc: int) -> dict[str, Any]:
    from pyspark.ml.torch.distributor import TorchDistributor

    distributor = TorchDistributor(num_processes=num_proc, local_mode=False, use_gpu=bool(spec.config.get("use_gpu")))
    try:
        result = distributor.run(train_worker, spec, "torch")  # rank 0's return value: train_worker's dict
        if not isinstance(result, dict):
            raise TypeError(f"TorchDistributor returned {type(result).__name__}, not train_worker's result")
        return result
    except Exception as e:
        raise _failed("TorchDistributor", spec, e, "") from e  # it only says a task failed: the recorded tracebacks say why
