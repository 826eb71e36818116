"""``python -m benchmarks``: see :mod:`benchmarks.run`."""

import sys

from benchmarks.run import BENCHMARKS, Benchmark, main

# gpu_check (issue 21) needs a CUDA device; on a machine without one it prints "no CUDA
# device", exits 0 and writes a result without rows, so `make bench` there does not fail.
BENCHMARKS.setdefault("gpu_check", Benchmark(
    "gpu_check", "gpu_check.py",
    "every pipeline: 20 training steps on the GPU, GPU vs CPU outputs, GIN vs PyG (CUDA)"))

sys.exit(main())
