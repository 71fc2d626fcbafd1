"""``ecomlake report --date D``: one day of the lake as a self-contained HTML page and PNG charts.

- :mod:`.figures` reads the day's figures from the tables (row conservation, quarantine reasons, KPIs,
  funnel, segments, model metrics, pipeline steps);
- :mod:`.render` draws the charts with matplotlib and writes the page;
- :mod:`.job` the CLI job.
"""
