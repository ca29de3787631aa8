"""Benchmarks (`make bench`): each reports ratios to a baseline timed in the same run."""
