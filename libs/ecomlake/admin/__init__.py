"""Jobs that need no Spark: cache Delta's jars (``jars``), print the effective config (``config``), render the data dictionary (``docs``)."""
