"""spark-submit entry for `ecomlake report`:  spark-submit jobs/report_job.py [flags]  (see `ecomlake report --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
