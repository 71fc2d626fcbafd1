"""spark-submit entry for `ecomlake sql`:  spark-submit jobs/sql_job.py [flags]  (see `ecomlake sql --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["sql", *sys.argv[1:]]))
