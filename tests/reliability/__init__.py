"""Reliability: crashes, faults, concurrent access and bad input against real files and
processes (issue 6). Scenarios live in ``scenarios.py`` so ``benchmarks/reliability_report.py``
runs exactly what the tests run."""
