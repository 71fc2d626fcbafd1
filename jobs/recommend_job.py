"""spark-submit entry for `ecomlake recommend`:  spark-submit jobs/recommend_job.py [flags]  (see `ecomlake recommend --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["recommend", *sys.argv[1:]]))
