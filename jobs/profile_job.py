"""spark-submit entry for `ecomlake profile`:  spark-submit jobs/profile_job.py [flags]  (see `ecomlake profile --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["profile", *sys.argv[1:]]))
