"""Sizing a generator run on the driver: no data involved."""

from __future__ import annotations

import datetime as dt

import pytest

from ecomlake.config import GeneratorConfig
from ecomlake.errors import ConfigError
from ecomlake.generate import catalog, traffic


def test_plan_defaults_scale_with_events() -> None:
    p = traffic.plan(GeneratorConfig(events=1_000_000))
    assert p.n_users == 66_666
    assert p.n_products == 4_000 and p.block * len(catalog.CATEGORIES) >= 4_000
    assert p.partitions == 5  # about 1.05M rows / 250k rows per file
    assert p.max_sessions == 6  # one day: strata of at least 4 h


def test_plan_is_sized_by_config_not_by_the_machine() -> None:
    a = traffic.plan(GeneratorConfig(events=50_000, seed=1))
    b = traffic.plan(GeneratorConfig(events=50_000, seed=1))
    assert a == b


def test_impossible_users_for_events_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="generator.users"):
        traffic.plan(GeneratorConfig(events=1_000_000, users=10, days=1))
    with pytest.raises(ConfigError, match="cannot make 1000 events"):
        traffic.plan(GeneratorConfig(events=1_000, users=1_000))


def test_weekday_and_hour_weights_are_shares() -> None:
    assert len(traffic.HOURLY_WEIGHT) == 24 and max(traffic.HOURLY_WEIGHT) == 1.0
    assert len(traffic.WEEKDAY_WEIGHT) == 7 and max(traffic.WEEKDAY_WEIGHT) == 1.0
    assert 0.5 < traffic._mean_session_weight(dt.date(2019, 10, 1), 7) < 0.8


def test_session_strata_keep_sessions_apart() -> None:
    # The longest possible session plus the 30-minute gap fits in the smallest stratum.
    assert 86_400 / traffic.plan(GeneratorConfig(events=10_000)).max_sessions >= traffic.SESSION_SPAN_MAX_S + traffic.SESSION_GAP_MIN_S
