"""spark-submit entry for `ecomlake sequences`:  spark-submit jobs/sequences_job.py [flags]  (see `ecomlake sequences --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["sequences", *sys.argv[1:]]))
