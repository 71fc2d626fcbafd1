"""The synthetic event generator: realistic REES46-layout traffic with injected faults.

Everything is computed in Spark from hashes of (seed, what, ids), never from ``rand()``, so the
output is the same for a seed on any cluster and any number of cores, and no row is ever
collected to the driver. Modules:

- :mod:`.randomness`  column functions turning hashes into uniform, normal and Zipf draws
- :mod:`.catalog`     the category tree, brands and prices as column functions of (category, rank)
- :mod:`.traffic`     users -> sessions -> events (funnel, bots, day/night and weekday cycles)
- :mod:`.faults`      which event gets which fault, and applying it
- :mod:`.output`      rendering to CSV / JSON lines / Parquet files, and the manifest
- :mod:`.schemas`     ops.generator_runs' documented columns (one row per ``ecomlake generate`` run)
"""
