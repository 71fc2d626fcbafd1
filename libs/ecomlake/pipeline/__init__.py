"""The daily pipeline: the jobs in order for a date (or a range of dates), each step recorded in ops.run_ledger."""
