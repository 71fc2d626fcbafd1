"""Featurise: silver events -> the gold tables (``ecomlake featurize``).

- :mod:`.sessions`      sessionisation and gold.sessions
- :mod:`.activity`      gold.user_item_daily, the additive daily building block
- :mod:`.users`         gold.user_features as of a date (RFM, browsing, dwell, funnel, affinity, price)
- :mod:`.items`         gold.item_features as of a date
- :mod:`.interactions`  gold.interactions, implicit feedback for ALS
- :mod:`.kpis`          gold.daily_kpis
- :mod:`.labels`        gold.labels (churn, purchase)
- :mod:`.ranking`       ranks and quintiles without a global sort
- :mod:`.columns`       shared column functions: counts by type, exact sums, safe ratios

The gold tables and their columns are declared in :mod:`ecomlake.catalog.features`.
- :mod:`.job`           the job: a day incrementally, or a full rebuild
"""
