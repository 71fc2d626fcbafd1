"""Ingest: raw event files (any layout declared in YAML) into the bronze.events Delta table.

Modules:

- :mod:`.layouts`  source layouts: YAML loaded into frozen :class:`~.layouts.Layout` objects, plus
  column functions for the layout's event types and time format
- :mod:`.schemas`  bronze.events' documented columns (BRONZE; ``read.BRONZE_SCHEMA`` is its StructType)
- :mod:`.read`     listing and reading a day's raw files, and the pure mapping onto BRONZE_SCHEMA
- :mod:`.job`      ``ecomlake ingest --date D [--path P] [--layout NAME_OR_FILE]``
"""
