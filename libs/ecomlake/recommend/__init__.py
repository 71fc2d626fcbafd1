"""Recommendations with Spark MLlib ALS: implicit feedback on gold.interactions, evaluated against popularity.

Modules: ``als`` (ids, fit, exact top k among unseen items), ``evaluate`` (chronological split,
ranking metrics), ``similar`` (item-item cosine), ``explicit`` (MovieLens check), ``schemas``
(output tables) and ``job`` (``ecomlake recommend``, ``ecomlake als-movielens``).
"""
