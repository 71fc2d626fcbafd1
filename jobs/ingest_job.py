"""spark-submit entry for `ecomlake ingest`:  spark-submit jobs/ingest_job.py --date YYYY-MM-DD [flags]  (see `ecomlake ingest --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
