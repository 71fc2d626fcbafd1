"""spark-submit entry for `ecomlake clean`:  spark-submit jobs/clean_job.py [flags]  (see `ecomlake clean --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["clean", *sys.argv[1:]]))
