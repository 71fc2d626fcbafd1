"""spark-submit entry for `ecomlake als-movielens`:  spark-submit jobs/als_movielens_job.py [flags]  (see `ecomlake als-movielens --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["als-movielens", *sys.argv[1:]]))
