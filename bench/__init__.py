"""Benchmarks: a protocol-only load generator and the bare relay it is compared with."""
