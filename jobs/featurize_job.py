"""spark-submit entry for `ecomlake featurize`:  spark-submit jobs/featurize_job.py [flags]  (see `ecomlake featurize --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["featurize", *sys.argv[1:]]))
