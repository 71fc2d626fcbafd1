"""spark-submit entry for `ecomlake train-lstm`:  spark-submit jobs/train_lstm_job.py [flags]  (see `ecomlake train-lstm --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-lstm", *sys.argv[1:]]))
