"""spark-submit entry for `ecomlake backfill`:  spark-submit jobs/backfill_job.py [flags]  (see `ecomlake backfill --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["backfill", *sys.argv[1:]]))
