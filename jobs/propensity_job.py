"""spark-submit entry for `ecomlake propensity`:  spark-submit jobs/propensity_job.py [flags]  (see `ecomlake propensity --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["propensity", *sys.argv[1:]]))
