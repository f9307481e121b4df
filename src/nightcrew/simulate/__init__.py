"""The sample business, contact behaviour and month simulation (demo and benchmarks)."""
