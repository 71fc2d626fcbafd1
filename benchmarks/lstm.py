"""Benchmark: the sequence model on a larger generated set, against its baselines, with the time of every step.

    python -m benchmarks.lstm [--events 1000000] [--days 28] [--root DIR] [--launchers horovod,torch_distributor] [--out FILE.json]

Prepares a lake the way the test suite's gold lake is made: ``--events`` generated over
``--days`` days, ingested as one delivery on the last day and cleaned (every day kept as a late arrival),
then featurized as of the last day (every daily slice, the labels of cut-off C = last day - horizon),
as of C and as of C - horizon. Then, for day C (whose test day has churn labels):

  sequences -> propensity (the MLlib churn model: labels of C - horizon, features as of C - horizon,
  scoring the users as of C) -> train-lstm with each launcher -> score-lstm

(each job's ``run(Context(spark, config), Params(C))``: ``ecomlake.sequences.job``, ``ecomlake.propensity.job``,
``ecomlake.lstm.train_job``, ``ecomlake.lstm.score_job``), and prints the LSTM's test metrics beside the
baselines (most frequent next event, last-event Markov chain, the propensity model on the same users) and
every step's seconds. With ``--root`` an existing
prepared lake is reused (the preparation is skipped when its sequences dataset exists). A benchmark,
not a test: the figures depend on the machine and on what else runs on it (the load average is printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from benchmarks.common import load_average

HORIZON = 7
T = TypeVar("T")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="target human events to generate")
    parser.add_argument("--days", type=int, default=28, help="days the events span")
    parser.add_argument("--root", default=None, help="lake root to build in or reuse (default: a temporary folder)")
    parser.add_argument("--launchers", default="horovod,torch_distributor", help="comma-separated lstm.launcher values to train with")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides, e.g. --set lstm.epochs=8")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    from ecomlake.clean import job as clean_job
    from ecomlake.config import load_config
    from ecomlake.featurize import job as featurize_job
    from ecomlake.generate.dataset import generate_dataset
    from ecomlake.ingest import job as ingest_job
    from ecomlake.job import Context
    from ecomlake.lstm import score_job, train_job
    from ecomlake.lstm.evaluate import metrics_table
    from ecomlake.propensity import job as propensity_job
    from ecomlake.sequences import job as sequences_job
    from ecomlake.session import start_session

    root = os.path.abspath(args.root or tempfile.mkdtemp(prefix="ecomlake-bench-lstm-"))
    config = load_config(
        None,
        overrides=[
            f"lake.root={root}",
            f"generator.events={args.events}",
            f"generator.days={args.days}",
            f"generator.output={root}/landing",
            f"clean.max_late_days={args.days}",
            f"featurize.label_horizon_days={HORIZON}",
            "propensity.targets=[churned]",
            *args.set,
        ],
    )
    start, last = config.generator.start_date, config.generator.start_date + dt.timedelta(days=args.days - 1)
    cutoff = last - dt.timedelta(days=HORIZON)
    print(f"load average at start: {load_average()} ({os.cpu_count()} cores); lake {root}", flush=True)
    spark = start_session(config.spark, "ecomlake-bench-lstm")
    ctx = Context(spark, config)
    seconds: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], T]) -> T:
        t = time.perf_counter()
        out = fn()
        seconds[name] = time.perf_counter() - t
        print(f"  {name}: {seconds[name]:.1f} s", flush=True)
        return out

    if not Path(root, "models", "sequences").exists():
        timed("generate", lambda: generate_dataset(spark, config.generator))
        files = tuple(str(p) for p in sorted(Path(root, "landing").glob("event_date=*")))
        timed("ingest", lambda: ingest_job.run(ctx, ingest_job.IngestParams(last, files)))
        timed("clean", lambda: clean_job.run(ctx, clean_job.CleanParams(last)))
        for label, day in (("last day", last), ("cut-off", cutoff), ("cut-off - horizon", cutoff - dt.timedelta(days=HORIZON))):
            timed(f"featurize ({label})", lambda day=day: featurize_job.run(ctx, featurize_job.FeaturizeParams(day)))
        timed("propensity", lambda: propensity_job.run(ctx, propensity_job.PropensityParams(cutoff)))
    dataset = timed("sequences", lambda: sequences_job.run(ctx, sequences_job.SequencesParams(cutoff)))
    splits = dataset.manifest["splits"]
    print(f"  dataset {dataset.version}: " + ", ".join(f"{s} {v['rows']:,}" for s, v in splits.items()) + f"; vocab {dataset.manifest['vocab']}")

    runs = {}
    for launcher in args.launchers.split(","):
        launcher_ctx = Context(spark, dataclasses.replace(config, lstm=dataclasses.replace(config.lstm, launcher=launcher)))
        r = timed(f"train-lstm ({launcher})", lambda c=launcher_ctx: train_job.run(c, train_job.TrainParams(cutoff)))
        print(f"\n{launcher}: {r.training['epochs_run']} epochs, best {r.training['best_epoch']}, {r.train_seconds:.1f} s")
        for h in r.training["history"]:
            loss, rate = f"train {h['train_loss']:.4f} val {h['val_loss']:.4f}", f"{h['samples_per_second']:,.0f}/s"
            print(f"    epoch {h['epoch']}: {loss} acc {h['val_next_accuracy']:.4f} {rate}")
        print(metrics_table(r.evaluation), flush=True)
        runs[launcher] = r
    scored = timed("score-lstm", lambda: score_job.run(ctx, score_job.ScoreParams(cutoff)))
    print(f"  {scored.users:,} users scored")

    report = {
        "events": args.events,
        "days": args.days,
        "cutoff": str(cutoff),
        "start": str(start),
        "dataset": {"version": dataset.version, "splits": splits, "vocab": dataset.manifest["vocab"]},
        "seconds": seconds,
        "runs": {
            launcher: {
                "model_version": r.model_version,
                "training": {k: v for k, v in r.training.items() if k != "history"},
                "history": r.training["history"],
                "metrics": [dataclasses.asdict(m) for m in r.evaluation.models],
                "lstm_churn_on_propensity_users": r.evaluation.lstm_churn_on_propensity_users,
            }
            for launcher, r in runs.items()
        },
        "scored_users": scored.users,
        "load_average_end": load_average(),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")
    spark.stop()


if __name__ == "__main__":
    main()
