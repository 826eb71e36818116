"""wlkit's performance benchmarks (not part of the package or of ``make test``).

``python -m benchmarks --list`` lists them; ``benchmarks/README.md`` has the figures.
"""
