"""Readable segment names, decided from each segment's centroid in original units against the population.

For every feature, a segment's *ratio* is its users' mean divided by the mean over all users of the
run (1 when the population mean is 0). A feature is **high** when the ratio is at least
:data:`HIGH` (1.25) and **low** when it is at most :data:`LOW` (0.8); a feature that is not among the
run's features is neither. *Value* is ``revenue`` (``orders`` when the run has no revenue).
``recency_days`` high means the segment has been inactive for longer than most.

The first rule that holds names the segment:

======================  ======================================================================
name                    rule
======================  ======================================================================
all users               the run has a single segment
at-risk                 value high and recency_days high: valuable customers gone quiet
high-value loyal        value high, orders high and (when a feature) active_days high
big spenders            value high (few, large orders, or on few days)
bounced                 under 2 views per session (sessions and views among the features): one look, gone
lapsed                  recency_days high: inactive for longer than most, little value
new                     tenure_days low: first seen recently
cart abandoners         carts high: put products in the cart, buy little
window shoppers         views high: browse a lot, buy little
occasional buyers       mean orders per user at least 0.5
browsers                anything else: light visitors who rarely buy
======================  ======================================================================

Names are unique per run. When several segments get the same name, the group is told apart by the
feature on which its members differ most (the largest spread of ``log ratio``, ratios clipped to
1/100..100; ties: the earlier feature): the member with the highest mean gets ``(<feature> high)``,
the lowest ``(<feature> low)``, any others ``(<feature> mid)``, e.g. ``browsers (views high)`` and
``browsers (views low)``; high and low are within the group. Should names still coincide (``mid`` in a
group of four or more), they are numbered ``#2``, ``#3``... in order of decreasing value (then
segment id). Transitions compare runs by name, so the rules favour names that stay put when the
segments' ids change between runs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

HIGH = 1.25
LOW = 0.8
BOUNCE_VIEWS_PER_SESSION = 2.0
ALL_USERS = "all users"
_CLIP = 100.0


def name_segments(means: Mapping[int, Mapping[str, float]], users: Mapping[int, int]) -> dict[int, str]:
    """A unique readable name per segment id, from each segment's feature means and its user count.

    Example:
        >>> name_segments({0: {"revenue": 0.0, "orders": 0.0}, 1: {"revenue": 900.0, "orders": 4.0}}, {0: 90, 1: 10})
        {0: 'browsers', 1: 'high-value loyal'}
    """
    if len(means) == 1:
        return {segment: ALL_USERS for segment in means}
    population = population_means(means, users)
    ratios = {s: _ratios(m, population) for s, m in means.items()}
    names = {s: _base_name(ratios[s], means[s]) for s in means}
    names = _qualify_duplicates(names, ratios)
    return _number_duplicates(names, {s: _value(means[s]) for s in means})


def population_means(means: Mapping[int, Mapping[str, float]], users: Mapping[int, int]) -> dict[str, float]:
    """Each feature's mean over all users: the segments' means weighted by their users."""
    total = sum(users.values())
    features = next(iter(means.values())).keys()
    return {f: sum(means[s][f] * users[s] for s in means) / total for f in features}


def _ratios(segment: Mapping[str, float], population: Mapping[str, float]) -> dict[str, float]:
    return {f: segment[f] / population[f] if population[f] else 1.0 for f in segment}


def _value(values: Mapping[str, float]) -> float:
    return values.get("revenue", values.get("orders", 0.0))


def _base_name(ratio: Mapping[str, float], mean: Mapping[str, float]) -> str:
    def high(f: str) -> bool:
        return f in ratio and ratio[f] >= HIGH

    def low(f: str) -> bool:
        return f in ratio and ratio[f] <= LOW

    value_high = high("revenue") if "revenue" in ratio else high("orders")
    if value_high and high("recency_days"):
        return "at-risk"
    if value_high and high("orders") and ("active_days" not in ratio or high("active_days")):
        return "high-value loyal"
    if value_high:
        return "big spenders"
    if mean.get("sessions", 0.0) > 0 and "views" in mean and mean["views"] / mean["sessions"] < BOUNCE_VIEWS_PER_SESSION:
        return "bounced"
    if high("recency_days"):
        return "lapsed"
    if low("tenure_days"):
        return "new"
    if high("carts"):
        return "cart abandoners"
    if high("views"):
        return "window shoppers"
    if mean.get("orders", 0.0) >= 0.5:
        return "occasional buyers"
    return "browsers"


def _qualify_duplicates(names: dict[int, str], ratios: Mapping[int, Mapping[str, float]]) -> dict[int, str]:
    qualified = dict(names)
    for name in {n for n in names.values() if list(names.values()).count(n) > 1}:
        group = [s for s in names if names[s] == name]
        logs = {s: {f: math.log(min(max(r, 1 / _CLIP), _CLIP)) for f, r in ratios[s].items()} for s in group}
        features = list(ratios[group[0]])
        feature = max(features, key=lambda f: max(logs[s][f] for s in group) - min(logs[s][f] for s in group))  # first of equal spreads
        ranked = sorted(group, key=lambda s: (-ratios[s][feature], s))
        for position, s in enumerate(ranked):
            level = "high" if position == 0 else "low" if position == len(ranked) - 1 else "mid"
            qualified[s] = f"{name} ({feature} {level})"
    return qualified


def _number_duplicates(names: dict[int, str], value: Mapping[int, float]) -> dict[int, str]:
    seen: Counter[str] = Counter()
    numbered = {}
    for s in sorted(names, key=lambda s: (-value[s], s)):
        seen[names[s]] += 1
        numbered[s] = names[s] if seen[names[s]] == 1 else f"{names[s]} #{seen[names[s]]}"
    return dict(sorted(numbered.items()))
