"""The table map: every Delta table of the lake, its layer, name, partitioning, path and catalog name.

Free of Spark on purpose: the analysts' DuckDB side (ecomlake.analyst.duck) opens the same tables by
the same names in an environment without pyspark.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecomlake.config import LakeConfig


@dataclass(frozen=True)
class Table:
    """A Delta table of the lake: its layer (bronze, silver, gold, ml, ops) and name."""

    layer: str
    name: str
    partition_by: tuple[str, ...] = ()

    def path(self, lake: LakeConfig) -> str:
        return f"{lake.root}/{self.layer}/{self.name}"

    def qualified_name(self, lake: LakeConfig) -> str:
        return f"{lake.database}.{self.layer}_{self.name}"


# The table map (see the README's table list).
GENERATOR_RUNS = Table("ops", "generator_runs")
BRONZE_EVENTS = Table("bronze", "events", partition_by=("ingest_date",))  # raw events as strings (ecomlake.ingest)

SILVER_EVENTS = Table("silver", "events", partition_by=("event_date",))  # typed, deduplicated, filled (ecomlake.clean)
QUARANTINE = Table("silver", "quarantine", partition_by=("ingest_date",))  # rejected rows with a reason (ecomlake.clean)
RUN_AUDIT = Table("ops", "run_audit")  # row conservation of every clean run
RUN_LEDGER = Table("ops", "run_ledger")  # every pipeline step attempt (ecomlake.pipeline)

# Gold (ecomlake.featurize; columns documented in ecomlake.featurize.schemas). Daily tables hold one
# slice per event day; snapshot tables one slice per as-of date, computed from the daily tables.
SESSIONS = Table("gold", "sessions", partition_by=("session_date",))
USER_ITEM_DAILY = Table("gold", "user_item_daily", partition_by=("event_date",))
DAILY_KPIS = Table("gold", "daily_kpis")
USER_FEATURES = Table("gold", "user_features", partition_by=("as_of_date",))
ITEM_FEATURES = Table("gold", "item_features", partition_by=("as_of_date",))
INTERACTIONS = Table("gold", "interactions", partition_by=("as_of_date",))
LABELS = Table("gold", "labels", partition_by=("cutoff_date",))

# Models (ecomlake.recommend, ecomlake.profile, ecomlake.propensity, ecomlake.lstm; columns in each package's schemas).
# Scores and assignments hold one slice per run date; metrics and the run records one row per run.
RECOMMENDATIONS = Table("gold", "recommendations", partition_by=("run_date",))
SIMILAR_ITEMS = Table("gold", "similar_items", partition_by=("run_date",))
ALS_METRICS = Table("ml", "als_metrics")
USER_SEGMENTS = Table("gold", "user_segments", partition_by=("run_date",))
SEGMENTS = Table("ml", "segments")
SEGMENT_TRANSITIONS = Table("gold", "segment_transitions")
PROPENSITY_SCORES = Table("gold", "propensity_scores", partition_by=("run_date",))
PROPENSITY_METRICS = Table("ml", "propensity_metrics")
LSTM_SCORES = Table("gold", "lstm_scores", partition_by=("run_date",))  # ecomlake.lstm
LSTM_METRICS = Table("ml", "lstm_metrics")
MODEL_RUNS = Table("ml", "model_runs")  # every trained model: version, params, metrics, config, artifact (ecomlake.ml.registry)

ALL_TABLES: tuple[Table, ...] = (
    GENERATOR_RUNS, BRONZE_EVENTS, SILVER_EVENTS, QUARANTINE, RUN_AUDIT, RUN_LEDGER,
    SESSIONS, USER_ITEM_DAILY, DAILY_KPIS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS, LABELS,
    RECOMMENDATIONS, SIMILAR_ITEMS, ALS_METRICS, USER_SEGMENTS, SEGMENTS, SEGMENT_TRANSITIONS,
    PROPENSITY_SCORES, PROPENSITY_METRICS, LSTM_SCORES, LSTM_METRICS, MODEL_RUNS,
)  # fmt: skip
