"""Running and storing: one run (runner.py), many runs (executor.py), result files (store.py)."""
