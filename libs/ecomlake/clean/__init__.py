"""Cleaning: bronze events -> silver events + quarantine, nothing lost silently.

- :mod:`.rules`  parsing, quarantine reasons, duplicates, bots, filling (DataFrame transforms)
- :mod:`.day`    one day: classify every row, check conservation, shape silver and quarantine
- :mod:`.job`    ``ecomlake clean --date D``: reads bronze, writes silver, quarantine and ops.run_audit
"""
