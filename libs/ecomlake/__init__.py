"""ecomlake: e-commerce behaviour events to a Delta Lake lakehouse and models, on Apache Spark."""

__version__ = "0.1.0"
