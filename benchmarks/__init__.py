"""Benchmarks, load tests and fuzzers: run as ``python -m benchmarks.NAME`` (see the Makefile).

Not part of the shipped package. Each is an entry point, so importing this package makes the
process settings the command line makes (one BLAS thread, portable kernels).
"""

from features import numerics

numerics.configure()
