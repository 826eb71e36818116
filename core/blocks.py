"""Small building blocks that components share; exported from :mod:`wlkit`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn


def mlp(widths: Sequence[int], *, norm: Callable[[int], nn.Module] | None = None,
        activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Module:
    """Linear layers ``widths[0] -> widths[1] -> ... -> widths[-1]``; between two of them
    ``norm(width)`` (if given) and ``activation()``, nothing after the last.

    The one MLP builder of the built-ins (GIN's and GINE's update, DeepSets' phi and rho):
    the modules are created in this order, so seeded weights do not depend on which
    component asked.

    Parameters
    ----------
    widths : sequence of int
        Input width, hidden widths, output width; a single width gives ``nn.Identity``.
    norm : callable, optional
        ``norm(width)`` builds the normalisation after each hidden linear layer, e.g.
        ``nn.BatchNorm1d``.
    activation : callable
        Builds the non-linearity after each hidden layer (and its norm).

    Returns
    -------
    nn.Module
        An ``nn.Sequential`` (``nn.Identity`` for zero layers).

    Examples
    --------
    >>> mlp([4, 8, 2], norm=nn.BatchNorm1d)
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (2): ReLU()
      (3): Linear(in_features=8, out_features=2, bias=True)
    )
    >>> mlp([4])
    Identity()
    """
    widths = list(widths)
    if not widths:
        raise ValueError("mlp: widths needs at least the input width")
    if len(widths) == 1:
        return nn.Identity()
    parts: list[nn.Module] = []
    for i in range(len(widths) - 1):
        parts.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            if norm is not None:
                parts.append(norm(widths[i + 1]))
            parts.append(activation())
    return nn.Sequential(*parts)
