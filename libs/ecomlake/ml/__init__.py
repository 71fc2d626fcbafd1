"""What every model job shares: dense int32 id indexes (ids) and model versions and run records (registry)."""
