"""What analysts use: SQL on the lake's tables through Spark (sql), and without Spark through DuckDB."""
