"""spark-submit entry for `ecomlake generate`:  spark-submit jobs/generate_job.py [flags]  (see `ecomlake generate --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
