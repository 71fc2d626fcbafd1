"""Benchmark: LSTM training samples/s fed by petastorm, by pyarrow and by in-memory tensors, with 1 and 2 processes.

    python -m benchmarks.lstm_reader [--dataset DIR | --rows 100000] [--procs 1,2] [--epochs 2] [--json lstm_reader.json]

On a sequences dataset (``--dataset``: a folder with _manifest/ and train/, as ``ecomlake sequences`` writes)
or on a synthetic one written first by ``ecomlake.sequences.synthetic`` (``--rows`` training rows in ``--files``
Parquet files of one row group each, the layout of ``sequences.files_per_split``; sequences of ``--length``
events; the model's item vocabulary is set to ``--items`` so its embedding costs what a real catalogue's does,
though the synthetic ids use only a few of them). The model and batch size are LstmConfig's defaults unless overridden.

For each process count, one ``horovodrun -np P --gloo`` job (this file in ``--worker`` mode) measures, for
every reader kind, on each process's own shard of the train split (as training reads it):

  (1) reader only: one pass over the shard with no model (rows/s over all processes; for ``memory``, the
      load of the shard into tensors is timed apart and the pass only indexes them);
  (2) training: ``--epochs`` epochs of ``ecomlake.lstm.train.train_epoch`` (the training loop's own epoch:
      same step count on every process, Adam, gradients averaged by Horovod), samples/s over all processes
      per epoch; the first epoch includes warm-up, so the table shows it apart from the mean of the others.

Reader overhead shows as the gap between a reader's training rate and the memory kind's, and as the share
of an epoch that reading alone takes. A benchmark, not a test: figures vary with the machine and what else
runs on it (the load average is printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("petastorm", "pyarrow", "memory")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_dataset(root: Path, rows: int, length: int, files: int, items: int, seed: int) -> dict:
    """A synthetic dataset (``ecomlake.sequences.synthetic``) whose manifest gives the model ``items`` product ids."""
    from ecomlake.manifest import write_manifest
    from ecomlake.sequences.synthetic import write_synthetic_dataset

    small = max(1_000, rows // 10)
    manifest = write_synthetic_dataset(
        root, {"train": rows, "validation": small, "test": small}, length=length, seed=seed, files=files, row_groups_per_file=1
    )
    manifest["vocab"]["items"] = max(items, manifest["vocab"]["items"])
    write_manifest(str(root), manifest)  # replaces the writer's own
    return manifest


# --------------------------------------------------------------------------------------------- worker side


def _max_over_ranks(comm, value: float) -> float:  # type: ignore[no-untyped-def]
    vector = [0.0] * comm.size
    vector[comm.rank] = value
    return max(comm.allreduce_sum(vector))


def worker(plan_path: Path) -> None:
    """One horovodrun process: reader-only passes and training epochs for every reader kind; rank 0 writes the figures."""
    import torch

    from ecomlake.lstm.distributed import HorovodComm
    from ecomlake.lstm.model import COLUMNS, SequenceModel, config_from_dict
    from ecomlake.lstm.readers import MemoryShard, open_batches, rows_per_shard
    from ecomlake.lstm.train import train_epoch

    plan = json.loads(plan_path.read_text())
    cfg = config_from_dict(plan["config"])
    manifest = plan["manifest"]
    split = Path(plan["dataset"]) / "train"
    length = int(manifest["sequence_length"])
    torch.set_num_threads(cfg.threads_per_proc)
    comm = HorovodComm(cfg.use_gpu)
    try:
        shards = rows_per_shard(split, comm.size)
        steps = min(math.ceil(r / cfg.batch_size) for r in shards)
        figures = []
        for kind in plan["kinds"]:
            row: dict = {"reader": kind, "procs": comm.size, "shard_rows": shards, "steps_per_epoch": steps}
            shard = None
            if kind == "memory":
                comm.barrier()
                t = time.perf_counter()
                shard = MemoryShard(split, COLUMNS, comm.rank, comm.size)
                row["load_seconds"] = _max_over_ranks(comm, time.perf_counter() - t)

            def batches(epoch: int, shard=shard, kind=kind):  # type: ignore[no-untyped-def]
                if shard is not None:
                    return shard.batches(cfg.batch_size, cfg.seed + epoch)
                return open_batches(kind, split, COLUMNS, cfg.batch_size, comm.rank, comm.size, cfg.seed, epoch)

            comm.barrier()
            t = time.perf_counter()
            read = sum(len(b["next_event"]) for b in batches(0))
            seconds = _max_over_ranks(comm, time.perf_counter() - t)
            total = comm.allreduce_sum([read])[0]
            row.update(read_rows=int(total), read_seconds=seconds, read_rows_per_second=total / seconds)

            torch.manual_seed(cfg.seed)
            model = SequenceModel(cfg, manifest["vocab"]).to(comm.device)
            optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate * comm.size)
            model, optimizer = comm.prepare(model, optimizer, broadcast=True)
            epochs = []
            for epoch in range(1, plan["epochs"] + 1):
                comm.barrier()
                stats = train_epoch(model, optimizer, batches(epoch), steps, cfg, comm.device, length)
                seconds = _max_over_ranks(comm, stats.seconds)
                trained = comm.allreduce_sum([stats.trained_rows])[0]
                epochs.append({"epoch": epoch, "seconds": seconds, "trained_rows": int(trained), "samples_per_second": trained / seconds})
            row["epochs"] = epochs
            row["first_epoch_samples_per_second"] = epochs[0]["samples_per_second"]
            rest = epochs[1:] or epochs
            row["steady_samples_per_second"] = sum(e["trained_rows"] for e in rest) / sum(e["seconds"] for e in rest)
            row["read_share_of_epoch"] = row["read_seconds"] / (sum(e["seconds"] for e in rest) / len(rest))
            figures.append(row)
        if comm.rank == 0:
            plan_path.with_name(f"figures-{comm.size}.json").write_text(json.dumps(figures, indent=2))
    finally:
        comm.shutdown()


# --------------------------------------------------------------------------------------------- driver side


def run_procs(plan_path: Path, procs: int, timeout_s: float) -> tuple[list[dict], float]:
    """One horovodrun job of ``procs`` processes; its figures and wall time (startup included)."""
    from ecomlake.lstm.launch import child_env

    horovodrun = Path(sys.executable).parent / "horovodrun"
    cmd = [str(horovodrun), "-np", str(procs), "-H", f"localhost:{procs}", "--gloo", sys.executable, str(Path(__file__).resolve())]
    cmd += ["--worker", str(plan_path)]
    t = time.perf_counter()
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=timeout_s)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
        raise SystemExit(f"horovodrun -np {procs} failed ({done.returncode}):\n{tail}")
    return json.loads(plan_path.with_name(f"figures-{procs}.json").read_text()), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="an existing sequences dataset folder (read only)")
    parser.add_argument("--rows", type=int, default=100_000, help="training rows of the synthetic dataset (without --dataset)")
    parser.add_argument("--length", type=int, default=20, help="events per synthetic sequence")
    parser.add_argument("--files", type=int, default=8, help="Parquet files (= row groups) per synthetic split")
    parser.add_argument("--items", type=int, default=20_000, help="the model's item vocabulary on synthetic data")
    parser.add_argument("--procs", default="1,2", help="process counts, comma-separated")
    parser.add_argument("--readers", default=",".join(KINDS), help="reader kinds, comma-separated")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="per process (default: LstmConfig's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--timeout", type=float, default=3_600, help="seconds per horovodrun job")
    parser.add_argument("--json", default=None, help="write the figures as JSON here (benchmarks.run_all reads them)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker))
        return

    from ecomlake.config import LstmConfig
    from ecomlake.manifest import read_manifest

    cfg = LstmConfig(threads_per_proc=args.threads)
    if args.batch_size:
        cfg = dataclasses.replace(cfg, batch_size=args.batch_size)
    kinds = [k for k in args.readers.split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown reader kinds {unknown}; choose from {list(KINDS)}")
    work = Path(tempfile.mkdtemp(prefix="ecomlake-bench-lstm-"))
    try:
        print(f"load average at start: {_load()} ({os.cpu_count()} cores)", flush=True)
        if args.dataset:
            dataset = Path(args.dataset).resolve()
            manifest = read_manifest(str(dataset))
        else:
            dataset = work / "dataset"
            t = time.perf_counter()
            manifest = write_dataset(dataset, args.rows, args.length, args.files, args.items, seed=1)
            print(f"wrote a synthetic dataset of {args.rows:,} training rows in {args.files} files at {dataset} ({time.perf_counter() - t:.1f} s)")
        print(
            f"model: hidden {cfg.hidden_size}, {cfg.layers} layer(s), "
            f"embeddings {cfg.event_embedding}/{cfg.item_embedding}/{cfg.category_embedding}, "
            f"vocab {manifest['vocab']}, L={manifest['sequence_length']}, batch {cfg.batch_size} per process, {args.threads} thread(s) per process",
            flush=True,
        )
        plan = {"dataset": str(dataset), "manifest": manifest, "config": dataclasses.asdict(cfg), "kinds": kinds, "epochs": args.epochs}
        plan_path = work / "plan.json"
        plan_path.write_text(json.dumps(plan))
        rows, walls = [], {}
        for procs in [int(p) for p in args.procs.split(",") if p]:
            figures, walls[procs] = run_procs(plan_path, procs, args.timeout)
            rows.extend(figures)
            print(f"  horovodrun -np {procs}: {walls[procs]:.1f} s wall (startup and all readers)", flush=True)

        print()
        print(f"== LSTM training on {manifest['splits']['train']['rows']:,} rows, samples/s summed over processes")
        head = f"{'reader':<10} {'procs':>5} {'read rows/s':>12} {'epoch 1 /s':>11} {'later /s':>10} {'read share':>10} {'load s':>7}"
        print(head)
        print("-" * len(head))
        for r in rows:
            load = f"{r['load_seconds']:7.1f}" if "load_seconds" in r else f"{'':>7}"
            print(
                f"{r['reader']:<10} {r['procs']:>5} {r['read_rows_per_second']:>12,.0f} {r['first_epoch_samples_per_second']:>11,.0f} "
                f"{r['steady_samples_per_second']:>10,.0f} {r['read_share_of_epoch']:>10.0%} {load}"
            )
        print("  read share: a reader-only pass over the shard / a later training epoch (what reading costs the loop at most)")
        print(f"  load average at end: {_load()} (timings are noisy when other work shares the cores)")
        # How many times faster Petastorm reads than the LSTM trains from it (the lowest over process counts).
        feeds = [r["read_rows_per_second"] / r["steady_samples_per_second"] for r in rows if r["reader"] == "petastorm"]
        if feeds:
            print(f"  petastorm reads {min(feeds):.1f}x what training consumes (lowest over process counts)")
        if args.json:
            out = {
                "dataset": str(args.dataset or f"synthetic {args.rows} rows"),
                "config": plan["config"],
                "horovodrun_wall_seconds": walls,
                "rows": rows,
                "petastorm_over_training": round(min(feeds), 2) if feeds else None,
            }
            Path(args.json).write_text(json.dumps(out, indent=2))
            print(f"  figures written to {args.json}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
