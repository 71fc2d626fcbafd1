"""``python -m ecomlake.lstm.worker <spec.json>``: one Horovod process, as ``horovodrun`` starts it.

Reads the ``TrainSpec`` from the JSON file, runs ``train_worker(spec, "horovod")`` and, on rank 0, writes the
result to ``result.json`` next to the spec (atomically). Any failure exits non-zero with its traceback on
stderr, which horovodrun passes on (and ``launch`` quotes).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

RESULT_NAME = "result.json"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ecomlake.lstm.worker <spec.json>", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("petastorm").setLevel(logging.WARNING)  # it logs two INFO lines per reader about a non-petastorm dataset
    from ecomlake.lstm.train import TrainSpec, train_worker

    spec_path = Path(args[0])
    spec = TrainSpec.from_json(spec_path.read_text())
    result = train_worker(spec, "horovod")
    if result["rank"] == 0:
        target = spec_path.with_name(RESULT_NAME)
        tmp = target.with_name(f".{RESULT_NAME}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
