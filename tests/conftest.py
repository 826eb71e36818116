"""Shared fixtures: isolated caches, data locations, a tiny pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WLKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests never write into the user's ~/.cache.
    os.environ["WLKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("wlkit-cache"))


@pytest.fixture
def write_pipeline(tmp_path: Path):
    """Write YAML text to a file and return its path."""

    def write(text: str, name: str = "pipeline.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


TINY_PIPELINE = """\
name: tiny
dataset: wl_pairs
encodings: [{name: rwse, steps: 4}]
model: {layer: gin, aggregator: sum, num_layers: 2, hidden: 8, readout: sum}
train: {epochs: 2, batch_size: 4, lr: 0.01}
seeds: 2
trainer: {accelerator: cpu}
"""
