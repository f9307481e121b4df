"""Fault, load and hostile-input tests through real processes, and the harness the benchmarks share."""
