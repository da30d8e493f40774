"""Benchmark suites: one module per library, each ``run(*, repeats) -> dict`` (see ``timing``)."""
