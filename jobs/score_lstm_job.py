"""spark-submit entry for `ecomlake score-lstm`:  spark-submit jobs/score_lstm_job.py [flags]  (see `ecomlake score-lstm --help`)."""

import sys

from ecomlake.cli import main

if __name__ == "__main__":
    sys.exit(main(["score-lstm", *sys.argv[1:]]))
