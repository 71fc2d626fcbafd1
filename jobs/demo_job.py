"""spark-submit entry for `ecomlake demo`:  spark-submit jobs/demo_job.py [flags]  (see `ecomlake demo --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
