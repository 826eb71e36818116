"""``wlkit plot``: redraw a run's learning curves, or overlay several runs.

The curves come from each seed's ``metrics.csv`` (see :mod:`wlkit.model.curves`, which the
runner uses for the ``curves.png`` every run writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from wlkit.errors import WlkitError
from wlkit.model.curves import draw_curves, load_run_curves


def plot_runs(run_dirs: Sequence[str | Path], metrics: Sequence[str] | None = None,
              out: str | Path | None = None) -> Path:
    """Draw the learning curves of one or more runs into a PNG.

    Parameters
    ----------
    run_dirs : sequence of path
        Run directories written by ``wlkit run``.
    metrics : sequence of str, optional
        ``metrics.csv`` columns to draw, one panel each (default: ``train_loss`` and
        ``valid_metric``, plus ``train_metric`` when it was logged).
    out : path, optional
        The PNG to write. Default: ``<run>/curves.png`` for one run, ``curves.png`` in
        the current directory for several.

    Returns
    -------
    Path
        The file written.
    """
    if not run_dirs:
        raise WlkitError("no run given\n    hint: wlkit plot RUN [RUN ...]")
    curves = [load_run_curves(path) for path in run_dirs]
    labels = [c.label for c in curves]
    for i, c in enumerate(curves):  # two runs of one pipeline: tell them apart
        if labels.count(c.label) > 1:
            c.label = str(run_dirs[i])
    if out is None:
        out = Path(run_dirs[0]) / "curves.png" if len(curves) == 1 else Path("curves.png")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise WlkitError(f"{out}: the plot is a PNG\n    hint: name the file *.png")
    if not out.parent.is_dir():
        raise WlkitError(f"{out.parent}: no such folder\n    hint: create it, or pass "
                         "another --out")
    return draw_curves(curves, out, list(metrics) if metrics else None)
