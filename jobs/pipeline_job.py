"""spark-submit entry for `ecomlake pipeline`:  spark-submit jobs/pipeline_job.py [flags]  (see `ecomlake pipeline --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["pipeline", *sys.argv[1:]]))
