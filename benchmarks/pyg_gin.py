"""wlkit against PyTorch Geometric: a training step of wlkit's GIN pipeline model against the
same GIN in PyG (``torch_geometric.nn.GINEConv``, ``global_mean_pool``) on the same molecule
batches (converted once) with the same initial weights. Goal: wlkit / PyG <= 1.0.

Needs the optional extra: ``.venv/bin/pip install -c constraints.txt -e '.[bench]'``.
Run: ``.venv/bin/python benchmarks/pyg_gin.py [--quick] [--threads 1]``; writes
``benchmarks/results/pyg_gin.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gin_models import framework_benchmark


def main(argv: list[str] | None = None) -> Path:
    try:
        import torch_geometric  # noqa: F401
    except ImportError:
        raise SystemExit("pyg_gin: torch_geometric is not installed\n    hint: .venv/bin/pip "
                         "install -c constraints.txt -e '.[bench]'") from None
    return framework_benchmark("pyg_gin", "pyg", "wlkit GIN step vs the same GIN in PyG",
                               "<= 1.0", argv)


if __name__ == "__main__":
    main()
