"""Set-function tasks as graphs: the second-minimum task of the LCM paper.

Ong & Veličković (2022) use it to show that sum aggregation does not generalise to larger
sets while recurrent and LCM aggregators do: multisets of 8-bit integers, the label is the
second-smallest element, training sets have 2-16 elements and evaluation sets 32.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch
from torch import Tensor

from wlkit import DatasetInfo, DatasetRecord, GraphDataset, LoadedDataset, Param, hookimpl

FORMS: tuple[str, ...] = ("star", "set")
TARGETS: tuple[str, ...] = ("class", "bits")
_SPLITS: tuple[str, ...] = ("train", "valid", "test")


def second_smallest(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The second-smallest element of each multiset (duplicates count: {3, 3, 7} -> 3).

    ``values`` holds the multisets one after the other, ``sizes`` their lengths (>= 2).
    """
    segment = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((values, segment))
    starts = np.cumsum(sizes) - sizes
    return values[order][starts + 1]


def to_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """[n] integers -> [n, bits] array of 0/1, most significant bit first."""
    shifts = np.arange(bits - 1, -1, -1)
    return (values[:, None] >> shifts) & 1


class SetSecondMinDataset(GraphDataset):
    """Multisets of ``bits``-bit integers; the label is the second-smallest element.

    Each multiset is one DGL graph whose element nodes carry their integer as ``bits`` 0/1
    node features (most significant first; the model's linear input encoder is then the
    bitwise embedding of the paper: a sum of one learned vector per set bit, plus a bias).

    ``form="star"`` (default) adds a centre node 0 with an edge from every element node to
    it and marks it with ``ndata["target"] = 1``; its features are zeros. This is the form
    for comparing *aggregators*: with a GIN layer the centre computes
    ``MLP((1 + eps) h_c + AGG({h_v : v in the set}))``, so the pipeline's aggregator is the
    set function, and the ``target`` readout returns the centre's state. Use two layers:
    element nodes have no in-edges, so the first layer is an element-wise encoder (phi),
    and the second layer's aggregator reduces the encoded elements into the centre.
    ``form="set"`` gives graphs of element nodes only, without edges, for comparing set
    *readouts* (``readout: lcm`` / ``deepsets`` / ...).

    ``target="class"`` makes a ``2**bits``-way classification (accuracy);
    ``target="bits"`` predicts the label's bits as ``bits`` binary tasks and scores exact
    matches (all bits right), as PyTorch Geometric's ``lcm_aggr_2nd_min`` example does.

    Training sets have ``min_size``..``max_size`` elements (uniform), validation and test
    sets ``eval_size`` (size generalisation). Elements are uniform on ``[0, 2**bits)``, with
    repetition. Each split is drawn from its own stream seeded by ``(seed, split)``, so the
    validation and test sets do not change with ``num_train``.

    Parameters
    ----------
    bits : int
        Bits per integer (= node feature width).
    num_train, num_valid, num_test : int
        Number of multisets per split (the paper's setting: 65,536 / 1,024 / 1,024).
    min_size, max_size : int
        Size range of training multisets.
    eval_size : int
        Size of validation and test multisets.
    form : {"star", "set"}
        Graph form (see above).
    target : {"class", "bits"}
        Label encoding (see above).
    seed : int
        Seed of the generator.

    Examples
    --------
    >>> data = SetSecondMinDataset(num_train=4, num_valid=2, num_test=2).load()
    >>> g = data.graphs[0]
    >>> g.num_nodes() == g.num_edges() + 1, int(g.ndata["target"][0]), g.ndata["feat"].shape[1]
    (True, 1, 8)
    >>> values = (g.ndata["feat"][1:] * 2 ** torch.arange(7, -1, -1)).sum(1)
    >>> int(values.sort().values[1]) == int(data.labels[0])
    True
    """

    name = "set_second_min"

    def __init__(self, bits: int = 8, num_train: int = 65536, num_valid: int = 1024,
                 num_test: int = 1024, min_size: int = 2, max_size: int = 16,
                 eval_size: int = 32, form: str = "star", target: str = "class",
                 seed: int = 0):
        if not 1 <= bits <= 16:
            raise ValueError(f"set_second_min: bits must be in 1..16, got {bits}")
        if not 2 <= min_size <= max_size or eval_size < 2:
            raise ValueError("set_second_min: need 2 <= min_size <= max_size and "
                             f"eval_size >= 2, got {min_size}, {max_size}, {eval_size}")
        if form not in FORMS or target not in TARGETS:
            raise ValueError(f"set_second_min: form must be one of {FORMS} and target one "
                             f"of {TARGETS}, got {form!r}, {target!r}")
        self.bits = bits
        self.num_train = num_train
        self.num_valid = num_valid
        self.num_test = num_test
        self.min_size = min_size
        self.max_size = max_size
        self.eval_size = eval_size
        self.form = form
        self.target = target
        self.seed = seed

    def info(self) -> DatasetInfo:
        total = self.num_train + self.num_valid + self.num_test
        if self.target == "class":
            return DatasetInfo(task="multiclass", num_tasks=2 ** self.bits, metric="accuracy",
                               higher_is_better=True, node_feat_dim=self.bits,
                               num_graphs=total)
        return DatasetInfo(task="binary", num_tasks=self.bits, metric="exact_match",
                           higher_is_better=True, node_feat_dim=self.bits, num_graphs=total)

    def _draw(self, split: int, count: int, low: int, high: int) -> tuple[np.ndarray,
                                                                          np.ndarray]:
        rng = np.random.default_rng([self.seed, split])
        sizes = rng.integers(low, high + 1, size=count)
        values = rng.integers(0, 2 ** self.bits, size=int(sizes.sum()))
        return sizes, values

    def _graphs(self, sizes: np.ndarray, values: np.ndarray) -> list[dgl.DGLGraph]:
        feats = torch.from_numpy(to_bits(values, self.bits).astype(np.float32))
        graphs = []
        start = 0
        for size in sizes.tolist():
            elements = feats[start:start + size]
            start += size
            if self.form == "set":
                g = dgl.graph(([], []), num_nodes=size)
                g.ndata["feat"] = elements
            else:
                g = dgl.graph((torch.arange(1, size + 1), torch.zeros(size, dtype=torch.long)),
                              num_nodes=size + 1)
                g.ndata["feat"] = torch.cat([elements.new_zeros(1, self.bits), elements])
                mark = torch.zeros(size + 1, dtype=torch.long)
                mark[0] = 1
                g.ndata["target"] = mark
            graphs.append(g)
        return graphs

    def example_graphs(self) -> list[dgl.DGLGraph]:
        # the real form, with its ndata['target'] mark, for validate's trial forward pass
        return self._graphs(np.array([3, 5]), np.arange(8) % 2 ** self.bits)

    def load(self) -> LoadedDataset:
        graphs: list[dgl.DGLGraph] = []
        labels: list[np.ndarray] = []
        splits: dict[str, Tensor] = {}
        plan = {"train": (self.num_train, self.min_size, self.max_size),
                "valid": (self.num_valid, self.eval_size, self.eval_size),
                "test": (self.num_test, self.eval_size, self.eval_size)}
        for index, split in enumerate(_SPLITS):
            count, low, high = plan[split]
            sizes, values = self._draw(index, count, low, high)
            splits[split] = torch.arange(len(graphs), len(graphs) + count)
            graphs += self._graphs(sizes, values)
            labels.append(second_smallest(values, sizes))
        label = np.concatenate(labels)
        if self.target == "class":
            label_t = torch.from_numpy(label).long()
        else:
            label_t = torch.from_numpy(to_bits(label, self.bits).astype(np.float32))
        return LoadedDataset(graphs, label_t, splits)

    def evaluate(self, y_true: Tensor, y_pred: Tensor) -> float:
        if self.target == "class":
            return super().evaluate(y_true, y_pred)
        hits = ((y_pred > 0).float() == y_true.reshape(y_pred.shape)).all(dim=-1)
        return float(hits.float().mean())


@hookimpl
def wlkit_datasets() -> list[DatasetRecord]:
    return [
        DatasetRecord(
            name="set_second_min", factory=SetSecondMinDataset,
            summary="Second-smallest element of a multiset of 8-bit integers (LCM paper); "
                    "train on sizes 2-16, evaluate on 32.",
            params=(
                Param("bits", int, 8, "bits per integer (node feature width)", minimum=1,
                      maximum=16),
                Param("num_train", int, 65536, "training multisets", minimum=1),
                Param("num_valid", int, 1024, "validation multisets", minimum=1),
                Param("num_test", int, 1024, "test multisets", minimum=1),
                Param("min_size", int, 2, "smallest training multiset", minimum=2),
                Param("max_size", int, 16, "largest training multiset", minimum=2),
                Param("eval_size", int, 32, "size of validation and test multisets",
                      minimum=2),
                Param("form", str, "star", "star: a centre node aggregates the elements "
                      "(readout: target); set: element nodes only (set readouts)",
                      choices=FORMS),
                Param("target", str, "class", "class: 2**bits-way classification; bits: "
                      "one binary task per bit, exact-match accuracy", choices=TARGETS),
                Param("seed", int, 0, "seed of the generator"),
            ),
        ),
    ]
