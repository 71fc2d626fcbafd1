"""Typed configuration: YAML mapped onto frozen dataclasses, strictly.

Precedence, lowest first: the dataclass defaults (mirrored in conf/local.yaml), the YAML file given
with ``--conf``, environment variables (``ECOMLAKE_LAKE_ROOT``), then ``--set key=value`` overrides.
An unknown key, a wrong type, a missing required value or an impossible combination raises
:class:`~ecomlake.errors.ConfigError` naming the key and where it came from (file, variable or flag).

Example:
    >>> cfg = load_config(None, overrides=["spark.master=local[4]"])
    >>> cfg.spark.master
    'local[4]'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from ecomlake.errors import ConfigError
from ecomlake.pipeline.dag import DEFAULT_STEPS, STEP_NAMES
from ecomlake.vocabulary import EVENT_TYPES, EXIT

DEFAULTS_ORIGIN = "<defaults>"

_D = TypeVar("_D")

# Environment variables that override a config key (paths differ per machine; the YAML stays in git).
ENV_OVERRIDES: Mapping[str, str] = {
    "ECOMLAKE_LAKE_ROOT": "lake.root",
    "ECOMLAKE_JARS_CACHE": "spark.jars_cache",
    # Where and how big to run: what a scheduler sets per environment (see `ecomlake submit`).
    "ECOMLAKE_SPARK_MASTER": "spark.master",
    "ECOMLAKE_DEPLOY_MODE": "spark.deploy_mode",
    "ECOMLAKE_EXECUTOR_MEMORY": "spark.executor_memory",
    "ECOMLAKE_EXECUTOR_CORES": "spark.executor_cores",
    "ECOMLAKE_NUM_EXECUTORS": "spark.num_executors",
    "ECOMLAKE_TOTAL_EXECUTOR_CORES": "spark.total_executor_cores",
}


class InvalidValue(ValueError):
    """Raised by a section's ``validate`` for one of its keys; the loader adds the file and the path."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class LakeConfig:
    """Where the lakehouse lives: every table is at ``<root>/<layer>/<table>``."""

    root: str = "lake"
    database: str = "ecomlake"

    def validate(self) -> None:
        if not self.root:
            raise InvalidValue("root", "must not be empty")
        if not self.database.isidentifier():
            raise InvalidValue("database", f"must be a SQL identifier, got {self.database!r}")


@dataclass(frozen=True)
class SparkConfig:
    """Session settings; ``conf`` passes any further Spark property as it is."""

    master: str = "local[2]"
    app_name: str = "ecomlake"
    driver_memory: str = "4g"
    deploy_mode: Literal["client", "cluster"] = "client"  # spark-submit's: where the driver runs
    executor_memory: str | None = None  # None: Spark's default (1g)
    executor_cores: int | None = None
    num_executors: int | None = None  # YARN and Kubernetes
    total_executor_cores: int | None = None  # standalone: the cores the application may take in all
    shuffle_partitions: int = 8
    timezone: str = "UTC"
    ui_enabled: bool = False
    checkpoint_dir: str | None = None  # None: <lake.root>/_checkpoints
    warehouse_dir: str | None = None  # None: <lake.root>/_warehouse
    jars_cache: str | None = None  # None: $ECOMLAKE_CACHE/jars (default ~/.cache/ecomlake/jars)
    conf: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.master:
            raise InvalidValue("master", "must not be empty (e.g. local[2], spark://host:7077, yarn)")
        if self.shuffle_partitions < 1:
            raise InvalidValue("shuffle_partitions", f"must be >= 1, got {self.shuffle_partitions}")
        for name in ("executor_cores", "num_executors", "total_executor_cores"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidValue(name, f"must be >= 1 (or null for Spark's default), got {value}")


@dataclass(frozen=True)
class FaultRates:
    """Share of generated events given each fault; each event gets at most one fault."""

    duplicate: float = 0.01  # an exact copy of the row
    near_duplicate: float = 0.005  # the same event again 1 second later
    malformed: float = 0.001  # a line that cannot be parsed (CSV and JSON output only)
    null_user: float = 0.001
    unknown_event_type: float = 0.001
    bad_price: float = 0.001  # negative or absurdly large
    bad_timestamp: float = 0.001  # far in the future or before the site existed
    missing_category: float = 0.01  # category_code and brand blanked on a product that has them

    def validate(self) -> None:
        rates = dataclasses.asdict(self)
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise InvalidValue(name, f"must be between 0 and 1, got {rate}")
        if sum(rates.values()) > 0.5:
            raise InvalidValue(next(iter(rates)), f"the fault rates add up to {sum(rates.values()):.3f}; keep the sum <= 0.5")


@dataclass(frozen=True)
class GeneratorConfig:
    """Synthetic REES46-layout events; sizes default from ``events`` (see ecomlake.generate)."""

    events: int = 100_000  # target number of clean events (bots and faults come on top)
    users: int | None = None  # None: events / 15, like REES46's events per user per month
    products: int | None = None  # None: events / 250, at least 200
    start_date: dt.date = dt.date(2019, 10, 1)
    days: int = 1
    seed: int = 42
    format: Literal["csv", "json", "parquet"] = "csv"
    output: str | None = None  # None: <lake.root>/landing/events
    rows_per_file: int = 250_000  # sizes the Spark partitions, so the output is the same on any cluster
    bot_user_rate: float = 0.0005  # about 5% of rows come from bots, each hundreds of views a minute
    faults: FaultRates = field(default_factory=FaultRates)

    def validate(self) -> None:
        if self.events < 100:
            raise InvalidValue("events", f"must be >= 100, got {self.events}")
        if self.days < 1:
            raise InvalidValue("days", f"must be >= 1, got {self.days}")
        if self.users is not None and not 1 <= self.users <= self.events:
            raise InvalidValue("users", f"must be between 1 and events ({self.events}), got {self.users}")
        if self.products is not None and self.products < 10:
            raise InvalidValue("products", f"must be >= 10, got {self.products}")
        if self.rows_per_file < 1000:
            raise InvalidValue("rows_per_file", f"must be >= 1000, got {self.rows_per_file}")
        if not 0.0 <= self.bot_user_rate <= 0.5:
            raise InvalidValue("bot_user_rate", f"must be between 0 and 0.5, got {self.bot_user_rate}")


@dataclass(frozen=True)
class IngestConfig:
    """Where raw event files land and which source layout reads them (see ecomlake.ingest)."""

    layout: str = "rees46"  # a built-in layout name (ecomlake/sources/<name>.yaml) or a path to a layout YAML file
    landing: str | None = None  # None: <lake.root>/landing/events
    day_path: str = "event_date={date}"  # one day's files under landing; {date} becomes YYYY-MM-DD

    def validate(self) -> None:
        if not self.layout:
            raise InvalidValue("layout", "must not be empty (a built-in name such as rees46, or a path to a layout YAML file)")
        if "{date}" not in self.day_path:
            raise InvalidValue("day_path", f"must contain {{date}}, e.g. event_date={{date}}; got {self.day_path!r}")
        try:
            self.day_path.format(date="2019-10-01")
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidValue("day_path", f"only {{date}} may be substituted; got {self.day_path!r}") from exc


@dataclass(frozen=True)
class CleanConfig:
    """Cleaning rules (see ecomlake.clean): what is trusted, what is a duplicate, what is a bot."""

    site_launch: dt.date = dt.date(2000, 1, 1)  # events before the site existed are out of range
    max_late_days: int = 3  # events up to this many days before the run date are late arrivals, kept
    max_future_minutes: int = 60  # clock skew tolerated after the end of the run date
    max_price: float = 100_000.0  # prices above (or below 0) are quarantined as bad_price
    near_duplicate_seconds: int = 1  # same user, product and type again within this: a double click
    dedupe_lookback_days: int | None = None  # an event already in silver from this many earlier ingest dates is redelivered; None: max_late_days
    bot_max_events_per_minute: int = 60  # no person clicks faster
    bot_max_events_per_day: int = 5_000
    bot_action: Literal["remove", "flag"] = "remove"  # remove to quarantine, or keep with is_bot set

    def validate(self) -> None:
        for name in ("max_late_days", "max_future_minutes", "near_duplicate_seconds"):
            if getattr(self, name) < 0:
                raise InvalidValue(name, f"must be >= 0, got {getattr(self, name)}")
        for name in ("bot_max_events_per_minute", "bot_max_events_per_day"):
            if getattr(self, name) < 1:
                raise InvalidValue(name, f"must be >= 1, got {getattr(self, name)}")
        if self.max_price <= 0:
            raise InvalidValue("max_price", f"must be > 0, got {self.max_price}")
        if self.dedupe_lookback_days is not None and self.dedupe_lookback_days < 0:
            raise InvalidValue("dedupe_lookback_days", f"must be >= 0 (0: no re-delivery check) or null, got {self.dedupe_lookback_days}")

    @property
    def lookback_days(self) -> int:
        """The re-delivery lookback: dedupe_lookback_days, by default max_late_days (an event can come that late, so can its copy)."""
        return self.max_late_days if self.dedupe_lookback_days is None else self.dedupe_lookback_days


@dataclass(frozen=True)
class EventsConfig:
    """The event vocabulary: the four canonical types (ecomlake.vocabulary.EVENT_TYPES) and the site's own.

    A site's wishlists, searches or reviews are declared here with their interaction weight; a layout's
    ``event_types`` then maps source values onto them. They are kept in silver, counted in the gold tables
    (``extra_events`` maps) and are classes of their own in the sequence model; undeclared values are
    quarantined as unknown_event_type.
    """

    extra_types: dict[str, float] = field(default_factory=dict)  # event type -> interaction weight, e.g. {wishlist: 2.0}

    @property
    def types(self) -> tuple[str, ...]:
        """Every canonical event type: the four in funnel order, then the site's own in declared order."""
        return (*EVENT_TYPES, *self.extra_types)

    def validate(self) -> None:
        for name, weight in self.extra_types.items():
            if not _EVENT_TYPE_NAME.match(name):
                raise InvalidValue(f"extra_types.{name}", "must be lower-case letters, digits and '_', starting with a letter")
            if name in (*EVENT_TYPES, EXIT):
                raise InvalidValue(f"extra_types.{name}", f"is already a canonical type or class ({', '.join((*EVENT_TYPES, EXIT))})")
            if weight < 0:
                raise InvalidValue(f"extra_types.{name}", f"the interaction weight must be >= 0, got {weight}")


_EVENT_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class InteractionWeights:
    """Implicit-feedback weight of one event of each type in ``interactions.strength``."""

    view: float = 1.0
    cart: float = 3.0
    remove_from_cart: float = 0.0
    purchase: float = 5.0

    def validate(self) -> None:
        for name, weight in dataclasses.asdict(self).items():
            if weight < 0:
                raise InvalidValue(name, f"must be >= 0 (ALS confidence cannot be negative), got {weight}")


@dataclass(frozen=True)
class FeaturizeConfig:
    """Gold feature definitions (see ecomlake.featurize and the data dictionary in docs/)."""

    session_gap_minutes: int = 30  # inactivity that ends a session (source sessions are split by it too)
    dwell_cap_seconds: int = 600  # a gap to the next event longer than this counts as this much dwell time
    windows_days: tuple[int, ...] = (7, 30, 90)  # trailing windows for the windowed counts
    top_affinities: int = 3  # categories and brands listed per user
    interaction_weights: InteractionWeights = field(default_factory=InteractionWeights)
    interaction_half_life_days: float | None = 30.0  # None: no time decay
    label_horizon_days: int = 14  # churn/purchase labels look this many days past the cut-off

    def validate(self) -> None:
        for name in ("session_gap_minutes", "dwell_cap_seconds", "top_affinities", "label_horizon_days"):
            if getattr(self, name) < 1:
                raise InvalidValue(name, f"must be >= 1, got {getattr(self, name)}")
        if not self.windows_days or any(w < 1 for w in self.windows_days) or len(set(self.windows_days)) != len(self.windows_days):
            raise InvalidValue("windows_days", f"must be distinct whole days >= 1, e.g. [7, 30, 90]; got {list(self.windows_days)}")
        if self.interaction_half_life_days is not None and self.interaction_half_life_days <= 0:
            raise InvalidValue("interaction_half_life_days", f"must be > 0 or null (no decay), got {self.interaction_half_life_days}")


@dataclass(frozen=True)
class RecommendConfig:
    """ALS collaborative filtering on gold.interactions (ecomlake.recommend)."""

    rank: int = 32  # latent factors
    max_iter: int = 15
    reg_param: float = 0.05
    alpha: float = 10.0  # implicit feedback: confidence = 1 + alpha * strength
    blocks: int = 2  # ALS user and item blocks; about the cluster's cores for big data
    checkpoint_interval: int = 5  # iterations between checkpoints (needs spark.checkpoint_dir; long lineage overflows the stack)
    top_n: int = 10  # recommendations written per user
    exclude_seen: bool = True  # never recommend a product the user already interacted with
    similar_items: int = 10  # similar products written per product (0: none)
    k: int = 10  # cut-off of the ranking metrics
    test_fraction: float = 0.2  # per user, this share of their products (the latest first touched) is held out
    min_user_items: int = 3  # users with fewer products are trained on but not evaluated
    seed: int = 42

    def validate(self) -> None:
        for name in ("rank", "max_iter", "blocks", "checkpoint_interval", "top_n", "k"):
            if getattr(self, name) < 1:
                raise InvalidValue(name, f"must be >= 1, got {getattr(self, name)}")
        if self.min_user_items < 2:
            raise InvalidValue("min_user_items", f"must be >= 2 (an evaluated user keeps a product in training), got {self.min_user_items}")
        if self.similar_items < 0:
            raise InvalidValue("similar_items", f"must be >= 0, got {self.similar_items}")
        if self.reg_param < 0 or self.alpha < 0:
            raise InvalidValue("reg_param" if self.reg_param < 0 else "alpha", "must be >= 0")
        if not 0 < self.test_fraction < 1:
            raise InvalidValue("test_fraction", f"must be between 0 and 1, got {self.test_fraction}")


@dataclass(frozen=True)
class ProfileConfig:
    """KMeans user profiles on gold.user_features (ecomlake.profile)."""

    features: tuple[str, ...] = (
        "recency_days", "tenure_days", "active_days", "sessions", "views", "carts", "orders", "revenue",
        "avg_session_seconds", "view_to_cart_rate",
    )  # fmt: skip
    log_features: tuple[str, ...] = ("active_days", "sessions", "views", "carts", "orders", "revenue", "avg_session_seconds")  # log1p before scaling
    k: int | None = None  # None: chosen by silhouette in [k_min, k_max]; never more than the distinct feature vectors
    k_min: int = 3
    k_max: int = 8
    max_iter: int = 50
    silhouette_sample: int = 200_000  # users the silhouette is computed on (a seeded sample)
    seed: int = 42

    def validate(self) -> None:
        if not self.features:
            raise InvalidValue("features", "must name at least one user_features column")
        if not set(self.log_features) <= set(self.features):
            raise InvalidValue("log_features", f"must be among features; not: {sorted(set(self.log_features) - set(self.features))}")
        if self.k is not None and self.k < 2:
            raise InvalidValue("k", f"must be >= 2 (MLlib's KMeans minimum) or null, got {self.k}")
        if not 2 <= self.k_min <= self.k_max:
            raise InvalidValue("k_min", f"need 2 <= k_min <= k_max, got {self.k_min}..{self.k_max}")
        if self.max_iter < 1 or self.silhouette_sample < 2:
            raise InvalidValue("max_iter" if self.max_iter < 1 else "silhouette_sample", "too small")


PropensityTarget = Literal["churned", "purchased"]
PropensityModel = Literal["logistic_regression", "random_forest", "gbt"]


@dataclass(frozen=True)
class PropensityConfig:
    """Churn and purchase propensity on gold.user_features + gold.labels (ecomlake.propensity)."""

    targets: tuple[PropensityTarget, ...] = ("churned", "purchased")  # gold.labels columns
    models: tuple[PropensityModel, ...] = ("logistic_regression", "random_forest", "gbt")  # candidates; the best validation ROC-AUC wins
    features: tuple[str, ...] | None = None  # None: every numeric user_features column
    validation_fraction: float = 0.2  # users held out to choose the model and calibrate it
    test_fraction: float = 0.2  # users held out for the reported metrics
    balance_classes: bool = True  # weight rows so both classes weigh the same
    trees: int = 50  # random forest trees; gradient-boosted iterations
    max_depth: int = 5
    reg_param: float = 0.01  # logistic regression L2 penalty (on standardised features)
    seed: int = 42

    def validate(self) -> None:
        for name, chosen in (("targets", self.targets), ("models", self.models)):
            if not chosen or len(set(chosen)) != len(chosen):
                raise InvalidValue(name, f"must name at least one, each once; got {list(chosen)}")
        if self.features is not None and not self.features:
            raise InvalidValue("features", "must be null (all numeric features) or name at least one column")
        if not (0 < self.validation_fraction < 1 and 0 < self.test_fraction < 1 and self.validation_fraction + self.test_fraction < 1):
            raise InvalidValue("validation_fraction", "validation_fraction and test_fraction must be in (0, 1) and sum below 1")
        if self.trees < 1 or self.max_depth < 1:
            raise InvalidValue("trees" if self.trees < 1 else "max_depth", "must be >= 1")
        if self.reg_param < 0:
            raise InvalidValue("reg_param", f"must be >= 0, got {self.reg_param}")


@dataclass(frozen=True)
class SequencesConfig:
    """Event sequences for the LSTM, built from silver events (ecomlake.sequences).

    One sample per anchor event: the user's last ``length`` events up to and including it (within its
    session when ``unit`` is session), left-padded; targets are the next event of the session (or
    "exit"), a later purchase in the session, and gold.labels' churn label of the anchor's day.
    """

    unit: Literal["user", "session"] = "user"  # user: the context spans the user's sessions; session: only the anchor's session
    length: int = 20  # events per sequence (older events are truncated, short ones left-padded)
    lookback_days: int = 28  # anchors from the last N days up to --date (the context may reach further back)
    anchor_fraction: float = 1.0  # share of anchor events kept (a deterministic hash sample)
    validation_days: int = 1  # the days before the test days
    test_days: int = 1  # the last days up to --date
    min_item_events: int = 5  # products with fewer events in the train days go to the out-of-vocabulary id
    max_items: int = 50_000  # vocabulary cap (the most frequent first)
    min_category_events: int = 5
    max_categories: int = 5_000
    files_per_split: int = 8  # Parquet files (row groups) per split; each training process reads whole row groups
    include_bots: bool = False  # flagged bot events stay out of the sequences

    def validate(self) -> None:
        for name in ("length", "lookback_days", "validation_days", "test_days", "files_per_split", "max_items", "max_categories"):
            if getattr(self, name) < 1:
                raise InvalidValue(name, f"must be >= 1, got {getattr(self, name)}")
        if self.lookback_days <= self.validation_days + self.test_days:
            raise InvalidValue("lookback_days", f"must exceed validation_days + test_days (train days are needed), got {self.lookback_days}")
        if not 0 < self.anchor_fraction <= 1:
            raise InvalidValue("anchor_fraction", f"must be in (0, 1], got {self.anchor_fraction}")
        if self.min_item_events < 1 or self.min_category_events < 1:
            raise InvalidValue("min_item_events" if self.min_item_events < 1 else "min_category_events", "must be >= 1")


@dataclass(frozen=True)
class LstmConfig:
    """The multi-task LSTM on the sequences dataset and its distributed training (ecomlake.lstm)."""

    launcher: Literal["horovod", "horovodrun", "torch_distributor"] = (
        "horovod"  # horovod (horovod.spark.run) | horovodrun (a plain launch) | torch_distributor
    )
    num_proc: int = 2  # training processes (one per GPU on a GPU cluster)
    reader: Literal["petastorm", "pyarrow"] = "petastorm"  # petastorm | pyarrow (the fallback, same interface)
    use_gpu: bool = False  # CUDA + NCCL when true and a GPU is present; CPU + Gloo otherwise
    event_embedding: int = 8
    item_embedding: int = 32
    category_embedding: int = 16
    hidden_size: int = 64
    layers: int = 1  # 1 or 2 LSTM layers
    dropout: float = 0.1
    learning_rate: float = 0.002  # per process; scaled by the number of processes
    batch_size: int = 256  # per process
    epochs: int = 5
    patience: int = 2  # stop after this many epochs without a lower validation loss
    purchase_weight: float = 1.0  # loss = next-event CE + purchase_weight * purchase BCE + churn_weight * churn BCE
    balance_next_event: bool = True  # weight next-event classes by 1/sqrt(train frequency): rare classes (cart, purchase, exit) count
    churn_weight: float = 1.0
    threads_per_proc: int = 1  # torch intra-op threads per process (processes x threads <= cores)
    seed: int = 42

    def validate(self) -> None:
        for name in (
            "num_proc",
            "event_embedding",
            "item_embedding",
            "category_embedding",
            "hidden_size",
            "batch_size",
            "epochs",
            "threads_per_proc",
        ):
            if getattr(self, name) < 1:
                raise InvalidValue(name, f"must be >= 1, got {getattr(self, name)}")
        if self.layers not in (1, 2):
            raise InvalidValue("layers", f"must be 1 or 2, got {self.layers}")
        if not 0 <= self.dropout < 1:
            raise InvalidValue("dropout", f"must be in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0 or self.patience < 1:
            raise InvalidValue("learning_rate" if self.learning_rate <= 0 else "patience", "must be > 0")
        if self.purchase_weight < 0 or self.churn_weight < 0:
            raise InvalidValue("purchase_weight" if self.purchase_weight < 0 else "churn_weight", "must be >= 0")


@dataclass(frozen=True)
class PipelineConfig:
    """The daily pipeline (ecomlake pipeline): which steps run, always in pipeline order (ecomlake.pipeline.dag)."""

    steps: tuple[str, ...] = DEFAULT_STEPS  # add sequences, train-lstm, score-lstm for the LSTM

    def validate(self) -> None:
        unknown = [s for s in self.steps if s not in STEP_NAMES]
        if unknown or not self.steps:
            raise InvalidValue("steps", f"must name steps among {list(STEP_NAMES)}, got {list(self.steps)}")
        if list(self.steps) != sorted(set(self.steps), key=STEP_NAMES.index):
            raise InvalidValue("steps", f"must be distinct and in pipeline order {list(STEP_NAMES)}, got {list(self.steps)}")


# Spark's spark.redaction.regex default, plus the names a pseudonymisation key's variable may take (privacy.key_env):
# a property or environment variable whose name or value matches is shown as *********(redacted) in the UI and event log.
REDACTION_REGEX = r"(?i)secret|password|token|access[.]?key|pseudonym|hmac|[._]key$"


REDACTED = "*********(redacted)"  # Spark's own mark for a redacted value


@dataclass(frozen=True)
class PrivacyConfig:
    """Pseudonymise user ids at clean time with a keyed hash; the key never comes from this YAML."""

    pseudonymize_user_ids: bool = False
    key_env: str = "ECOMLAKE_PSEUDONYM_KEY"  # environment variable holding the key
    key_file: str | None = None  # or a file holding it (e.g. a mounted secret); wins over key_env

    def validate(self) -> None:
        if not self.key_env:
            raise InvalidValue("key_env", "must name an environment variable")
        if not re.search(REDACTION_REGEX, self.key_env):
            raise InvalidValue(
                "key_env", f"{self.key_env!r} must match {REDACTION_REGEX!r} (e.g. end in _KEY), so Spark redacts it from its UI and event log"
            )


@dataclass(frozen=True)
class Config:
    """The whole configuration of a run. ``origin`` says where it was loaded from."""

    lake: LakeConfig = field(default_factory=LakeConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    featurize: FeaturizeConfig = field(default_factory=FeaturizeConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    propensity: PropensityConfig = field(default_factory=PropensityConfig)
    sequences: SequencesConfig = field(default_factory=SequencesConfig)
    lstm: LstmConfig = field(default_factory=LstmConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    origin: str = field(default=DEFAULTS_ORIGIN, compare=False)

    def validate(self) -> None:
        """Checks that span sections."""
        if self.sequences.files_per_split < self.lstm.num_proc:
            raise InvalidValue(
                "sequences.files_per_split",
                f"must be >= lstm.num_proc ({self.lstm.num_proc}): each training process reads whole files; got {self.sequences.files_per_split}",
            )
        from ecomlake.catalog import USER_FEATURES  # the catalog's tables are declared with this module's defaults

        columns = {f.name: f.type for f in USER_FEATURES.schema(self.featurize.windows_days).fields}
        numeric = [name for name, tp in columns.items() if tp in ("long", "integer", "double", "float") and name != "user_id"]
        for key, chosen in (("profile.features", self.profile.features), ("propensity.features", self.propensity.features or ())):
            unusable = [f for f in chosen if f not in numeric]
            if unusable:
                raise InvalidValue(key, f"{unusable} are not numeric gold.user_features columns; choose among {numeric}")


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Load, override and validate the configuration; relative local paths become absolute.

    Args:
        path: a YAML file; None means the built-in defaults (which conf/local.yaml mirrors).
        overrides: ``key=value`` strings, e.g. ``generator.events=1000000``; values are parsed as YAML.
        environ: the environment to read overrides from (default ``os.environ``).
        flags: typed values from a job's own command-line flags, by dotted key (they win over ``--set``).
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    origins: dict[str, str] = {}
    origin = DEFAULTS_ORIGIN
    if path is not None:
        origin = str(path)
        raw = read_yaml_mapping(
            Path(path),
            f"config file not found: {path} (pass an existing file with --conf, e.g. conf/local.yaml)",
            "the top level must be a mapping of sections (lake, spark, generator, ingest, clean, featurize, recommend, profile, propensity, privacy)",
        )
    for env_name, key in ENV_OVERRIDES.items():
        if environ.get(env_name):
            text = environ[env_name]
            _set_dotted(raw, key, int(text) if text.isdigit() else text, f"environment variable {env_name}", origins)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set generator.events=1000000")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {exc}") from exc
        _set_dotted(raw, key.strip(), value, f"--set {item}", origins)
    for key, value in (flags or {}).items():
        _set_dotted(raw, key, value, f"the command-line flag for {key}", origins)

    config = _build(Config, raw, "", origin, origins)
    config = dataclasses.replace(config, origin=origin)
    return _resolve_paths(config)


def from_mapping(cls: type[_D], raw: Any, origin: str) -> _D:
    """Build the frozen dataclass ``cls`` from parsed YAML with the strictness of the config itself.

    An unknown key, a wrong type or a missing required key raises ConfigError naming the key and
    ``origin`` (e.g. the file the mapping was read from). Other YAML documents, such as the source
    layouts of ecomlake.ingest, use this instead of parsing by hand.

    Example:
        >>> from_mapping(LakeConfig, {"root": "/data/lake"}, "my.yaml").root
        '/data/lake'
    """
    return _build(cls, raw, "", origin, {})


def config_hash(config: Config) -> str:
    """A short, stable hash of the effective configuration (recorded with every run)."""
    canonical = json.dumps(as_dict(config), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def as_dict(config: Config) -> dict[str, Any]:
    """The configuration's values as plain data (dates as ISO strings), e.g. for ``ecomlake config``.

    Without ``origin``: the values matter, not which file they came from.
    """
    values = dataclasses.asdict(config)
    values.pop("origin", None)
    return json.loads(json.dumps(values, default=str))


def read_yaml_mapping(path: Path | Traversable, not_found: str, expected: str) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping; each failure is a ConfigError naming the file.

    ``not_found`` is the whole message for a missing file; ``expected`` describes the mapping wanted.
    """
    if not path.is_file():
        raise ConfigError(not_found)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {expected}, got {type(data).__name__}")
    return data


# Mappings whose own keys contain dots (Spark property names): ``spark.conf.spark.eventLog.dir=...``
# sets the key ``spark.eventLog.dir`` of ``spark.conf``.
DOTTED_KEY_MAPPINGS = ("spark.conf",)


def _set_dotted(raw: dict[str, Any], key: str, value: Any, origin: str, origins: dict[str, str]) -> None:
    node = raw
    parts = key.split(".")
    for mapping in DOTTED_KEY_MAPPINGS:
        if key.startswith(f"{mapping}.") and len(key) > len(mapping) + 1:
            parts = [*mapping.split("."), key[len(mapping) + 1 :]]
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: key '{'.'.join(parts[: i + 1])}' is a value, not a section")
        node = child
    node[parts[-1]] = value
    origins[key] = origin


def _origin_of(key: str, default: str, origins: Mapping[str, str]) -> str:
    """The origin of a key: its own override, else the nearest overridden parent, else the file.

    A list element (``propensity.models[1]``) comes from where its list was set.
    """
    parts = re.sub(r"\[\d+\]", "", key).split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in origins:
            return origins[prefix]
    return default


def _fail(key: str, message: str, default_origin: str, origins: Mapping[str, str]) -> ConfigError:
    return ConfigError(f"{_origin_of(key, default_origin, origins)}: key '{key}': {message}")


def _build(cls: type, raw: Any, prefix: str, origin: str, origins: Mapping[str, str]) -> Any:
    """Build dataclass ``cls`` from ``raw``, refusing unknown keys and wrong types."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise _fail(prefix.rstrip("."), f"expected a mapping (section), got {raw!r}", origin, origins)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "origin"}
    for key in raw:
        if key not in known:
            raise _fail(f"{prefix}{key}", f"unknown key in {where}; known keys: {', '.join(sorted(known))}", origin, origins)
    values = {name: _convert(hints[name], raw[name], f"{prefix}{name}", origin, origins) for name in known if name in raw}
    try:
        obj = cls(**values)
    except TypeError as exc:  # a field without a default was not given
        raise _fail(prefix.rstrip(".") or "<root>", f"missing required key: {exc}", origin, origins) from exc
    try:
        obj.validate()
    except InvalidValue as exc:
        raise _fail(f"{prefix}{exc.key}", str(exc), origin, origins) from exc
    return obj


def _convert(tp: Any, value: Any, key: str, origin: str, origins: Mapping[str, str]) -> Any:
    args = typing.get_args(tp)
    if value is None and type(None) not in args:
        raise _fail(key, "a value is required here (the key is present but empty)", origin, origins)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, f"{key}.", origin, origins)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, key, origin, origins)
    if typing.get_origin(tp) is Literal:
        if value not in args:
            raise _fail(key, f"must be one of {', '.join(map(str, args))}; got {value!r}", origin, origins)
        return value
    if typing.get_origin(tp) is tuple:  # tuple[X, ...]: a YAML list of X
        if not isinstance(value, list):
            kinds = {str: "strings", int: "integers", float: "numbers"}
            raise _fail(key, f"expected a list of {kinds.get(args[0], 'values')}, got {value!r}", origin, origins)
        return tuple(_convert(args[0], v, f"{key}[{i}]", origin, origins) for i, v in enumerate(value))
    if typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            raise _fail(key, f"expected a mapping, got {value!r}", origin, origins)
        if args[1] is not str:  # typed values (events.extra_types: weights)
            return {str(k): _convert(args[1], v, f"{key}.{k}", origin, origins) for k, v in value.items()}
        bad = [k for k, v in value.items() if not isinstance(v, str | int | float | bool)]
        if bad:
            raise _fail(f"{key}.{bad[0]}", "expected a scalar value", origin, origins)
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(key, f"expected true or false, got {value!r}", origin, origins)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, f"expected an integer, got {value!r}", origin, origins)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(key, f"expected a number, got {value!r}", origin, origins)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(key, f"expected a string, got {value!r} ({type(value).__name__}); quote it in YAML", origin, origins)
        return value
    if tp is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError as exc:
            raise _fail(key, f"expected a date YYYY-MM-DD, got {value!r}", origin, origins) from exc
    raise TypeError(f"config type {tp!r} of key '{key}' is not supported")  # a bug in this module


def _absolute(path: str) -> str:
    """Make a local path absolute; URIs (s3a://, hdfs://, file:/...) are kept as they are."""
    return path if ":" in path.split("/")[0] else os.path.abspath(path)


def _resolve_paths(config: Config) -> Config:
    root = _absolute(config.lake.root)
    spark = config.spark
    spark = dataclasses.replace(
        spark,
        checkpoint_dir=_absolute(spark.checkpoint_dir) if spark.checkpoint_dir else f"{root}/_checkpoints",
        warehouse_dir=_absolute(spark.warehouse_dir) if spark.warehouse_dir else f"{root}/_warehouse",
        jars_cache=_absolute(spark.jars_cache) if spark.jars_cache else str(cache_dir() / "jars"),
    )
    gen = config.generator
    gen = dataclasses.replace(gen, output=_absolute(gen.output) if gen.output else f"{root}/landing/events")
    ingest = dataclasses.replace(config.ingest, landing=_absolute(config.ingest.landing) if config.ingest.landing else f"{root}/landing/events")
    return dataclasses.replace(config, lake=dataclasses.replace(config.lake, root=root), spark=spark, generator=gen, ingest=ingest)


def cache_dir() -> Path:
    """The machine-wide cache (virtualenvs, jars, wheels): $ECOMLAKE_CACHE or ~/.cache/ecomlake."""
    return Path(os.environ.get("ECOMLAKE_CACHE") or Path.home() / ".cache" / "ecomlake")


def secret_names(config: Config) -> Callable[[str], bool]:
    """Whether a Spark property's name says its value is a secret: Spark's idea (secret, password, token, access key),
    as ``REDACTION_REGEX``, the config's own ``spark.redaction.regex`` if it sets one, and the pseudonym key's variable.
    """
    patterns = [re.compile(REDACTION_REGEX), re.compile(re.escape(config.privacy.key_env), re.IGNORECASE)]
    custom = config.spark.conf.get("spark.redaction.regex")
    if custom:
        try:
            patterns.append(re.compile(custom))
        except re.error as exc:
            raise ConfigError(f"spark.conf: spark.redaction.regex {custom!r} is not a regular expression ({exc}); fix or remove it") from exc
    return lambda name: any(p.search(name) for p in patterns)


def redacted_confs(confs: Mapping[str, str], is_secret: Callable[[str], bool]) -> dict[str, str]:
    """The properties with every secret value replaced by Spark's redaction mark."""
    return {key: REDACTED if is_secret(key) else value for key, value in confs.items()}
