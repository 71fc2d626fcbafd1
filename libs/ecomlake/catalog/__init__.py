"""The table catalog: every Delta table of the lake, declared once.

Each entry (:class:`~ecomlake.catalog.table.Table`) holds the table's layer and name (hence its path and
catalog name), its partitioning, its documented columns, the jobs that write it and its retention.
Jobs read and write tables only through these entries (:mod:`ecomlake.lake`); the data dictionary,
the Delta comments and the analysts' DuckDB views come from them too. The declarations are grouped
as the data flows:

- :mod:`~ecomlake.catalog.events`: bronze.events, silver.events, silver.quarantine (ingest, clean);
- :mod:`~ecomlake.catalog.features`: the gold tables of featurize;
- :mod:`~ecomlake.catalog.models`: what the model jobs write, and ml.model_runs;
- :mod:`~ecomlake.catalog.runs`: the run records ops.run_ledger and ops.run_audit.

Free of Spark: the analysts' environment imports it without pyspark.
"""

from __future__ import annotations

from ecomlake.catalog.events import BRONZE_EVENTS, LAYOUTS, PSEUDONYM_KEYS, QUARANTINE, SILVER_EVENTS, USER_PSEUDONYMS
from ecomlake.catalog.features import DAILY_KPIS, INTERACTIONS, ITEM_FEATURES, LABELS, SESSIONS, USER_FEATURES, USER_ITEM_DAILY
from ecomlake.catalog.models import (
    ALS_METRICS,
    LSTM_METRICS,
    LSTM_SCORES,
    MODEL_RUNS,
    PROPENSITY_METRICS,
    PROPENSITY_SCORES,
    RECOMMENDATIONS,
    SEGMENT_TRANSITIONS,
    SEGMENTS,
    SIMILAR_ITEMS,
    USER_SEGMENTS,
)
from ecomlake.catalog.runs import RUN_AUDIT, RUN_LEDGER
from ecomlake.catalog.table import DEFAULT_WINDOWS, Table

# The sections of the data dictionary, in the order the data flows: (title, tables).
SECTIONS: tuple[tuple[str, tuple[Table, ...]], ...] = (
    ("Raw and clean events (ecomlake ingest, clean)", (BRONZE_EVENTS, LAYOUTS, SILVER_EVENTS, QUARANTINE, USER_PSEUDONYMS)),
    ("Gold tables (ecomlake featurize)", (SESSIONS, USER_ITEM_DAILY, DAILY_KPIS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS, LABELS)),
    (
        "Model tables (ecomlake profile, recommend, propensity, train-lstm, score-lstm)",
        (
            USER_SEGMENTS, SEGMENTS, SEGMENT_TRANSITIONS, RECOMMENDATIONS, SIMILAR_ITEMS, ALS_METRICS,
            PROPENSITY_SCORES, PROPENSITY_METRICS, LSTM_SCORES, LSTM_METRICS, MODEL_RUNS,
        ),
    ),
    ("Operations (every job; clean's row conservation and pseudonym key)", (RUN_LEDGER, RUN_AUDIT, PSEUDONYM_KEYS)),
)  # fmt: skip

ALL_TABLES: tuple[Table, ...] = tuple(t for _, tables in SECTIONS for t in tables)

__all__ = [
    "ALL_TABLES", "ALS_METRICS", "BRONZE_EVENTS", "DAILY_KPIS", "DEFAULT_WINDOWS", "INTERACTIONS", "ITEM_FEATURES", "LABELS", "LAYOUTS",
    "LSTM_METRICS", "LSTM_SCORES", "MODEL_RUNS", "PROPENSITY_METRICS", "PROPENSITY_SCORES", "PSEUDONYM_KEYS", "QUARANTINE", "RECOMMENDATIONS",
    "RUN_AUDIT", "RUN_LEDGER", "SECTIONS", "SEGMENTS", "SEGMENT_TRANSITIONS", "SESSIONS", "SILVER_EVENTS", "SIMILAR_ITEMS",
    "Table", "USER_FEATURES", "USER_ITEM_DAILY", "USER_PSEUDONYMS", "USER_SEGMENTS",
]  # fmt: skip
