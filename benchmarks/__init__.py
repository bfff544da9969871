"""Speed and memory measurements (printed tables, never asserted in tests). `python -m benchmarks`."""
