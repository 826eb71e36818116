"""The GIN of ``pipelines/ogbg-molesol_gin.yaml`` three ways, on the same molecule batches.

* ``wlkit``: built through wlkit's public API from the pipeline dict
  (:func:`wlkit.pipeline.load_pipeline` + :func:`wlkit.model.build.build_model`), trained with
  wlkit's loss (:func:`wlkit.model.lightning.masked_loss`) and the optimizer wlkit's
  LightningModule configures;
* ``dgl``: the same network written directly in DGL: ``dgl.nn.GINEConv`` (message
  ReLU(h_u + E(e_uv)), sum) with OGB's Atom/BondEncoder, BatchNorm, ReLU, dropout,
  ``dgl.mean_nodes`` and a linear head, trained with ``torch.optim.Adam``;
* ``pyg``: the same in PyTorch Geometric (``torch_geometric.nn.GINEConv``,
  ``global_mean_pool``), on the same batches converted once to PyG's format.

All three get wlkit's initial weights (parameters and BatchNorm buffers copied by name;
:func:`check_same` verifies equal outputs in eval mode), so they compute the same function.

Data: ogbg-molesol from the shared data folder (``$WLKIT_SHARED_DATA``, default
``../shared/data``) when it is there, else random molecule-like graphs with OGB's atom and
bond feature ranges (a random tree of degree <= 4 plus a few ring bonds; 13 atoms on
average, as ogbg-molesol, for the dataset stand-in).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import dgl
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.common import ROOT
from wlkit import DatasetInfo, GraphDataset, LoadedDataset

PIPELINE = ROOT / "pipelines" / "ogbg-molesol_gin.yaml"
ATOM_DIMS = (119, 5, 12, 12, 10, 6, 6, 2, 2)  # ogb.utils.features.get_atom_feature_dims()
BOND_DIMS = (5, 6, 2)


def shared_data() -> Path:
    return Path(os.environ.get("WLKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def ogb_root() -> Path | None:
    root = shared_data() / "ogb"
    return root if (root / "ogbg_molesol" / "raw").is_dir() else None


# --- data ---------------------------------------------------------------------------------------


def random_molecule(num_nodes: int, rng: np.random.Generator, rings: float = 0.1) -> dgl.DGLGraph:
    """A molecule-like graph: a random tree of degree <= 4 plus ring bonds, OGB features."""
    src, dst = [], []
    degree = np.zeros(num_nodes, dtype=np.int64)
    for v in range(1, num_nodes):
        for _ in range(8):
            u = int(rng.integers(max(0, v - 6), v))
            if degree[u] < 4:
                break
        src.append(u)
        dst.append(v)
        degree[u] += 1
        degree[v] += 1
    present = set(zip(src, dst))
    for _ in range(int(rings * num_nodes)):
        u = int(rng.integers(0, num_nodes))
        v = u + int(rng.integers(4, 7))
        if v < num_nodes and degree[u] < 4 and degree[v] < 4 and (u, v) not in present:
            src.append(u)
            dst.append(v)
            present.add((u, v))
            degree[u] += 1
            degree[v] += 1
    s, d = np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)
    g = dgl.graph((np.concatenate([s, d]), np.concatenate([d, s])), num_nodes=num_nodes)
    atom = np.stack([rng.integers(0, min(k, 10), num_nodes) for k in ATOM_DIMS], 1)
    bond = np.stack([rng.integers(0, k, len(s)) for k in BOND_DIMS], 1)
    g.ndata["feat"] = torch.from_numpy(atom)
    g.edata["feat"] = torch.from_numpy(np.concatenate([bond, bond]))
    return g


def random_molecules(count: int, mean_nodes: int = 25, seed: int = 0,
                     exact: bool = False) -> list[dgl.DGLGraph]:
    rng = np.random.default_rng(seed)
    sizes = (np.full(count, mean_nodes) if exact
             else rng.integers(max(2, mean_nodes // 2), mean_nodes * 3 // 2 + 1, count))
    return [random_molecule(int(n), rng) for n in sizes]


def molesol_dataset(root: Path | None = None):
    """wlkit's ogbg-molesol dataset object (info and encoders work without the files)."""
    from wlkit.model.build import instantiate_dataset

    root = root or ogb_root()
    spec: dict[str, Any] = {"name": "ogbg-molesol"}
    if root is not None:
        spec["root"] = str(root)
    return instantiate_dataset(spec)


def molecule_graphs(count: int, seed: int = 0,
                    tiny: bool = False) -> tuple[list[dgl.DGLGraph], str]:
    """``count`` training molecules of ogbg-molesol (shuffled by ``seed``), or random ones
    (always with ``tiny``: tests of the benchmark code need no data)."""
    if tiny:
        return random_molecules(count, mean_nodes=8, seed=seed), "random molecules (tiny)"
    if ogb_root() is not None:
        dataset = molesol_dataset()
        dataset.prepare_data()
        loaded = dataset.load()
        index = loaded.splits["train"].tolist()
        random.Random(seed).shuffle(index)
        picked = [loaded.graphs[i] for i in (index * (count // len(index) + 1))[:count]]
        return picked, "ogbg-molesol (train split)"
    return (random_molecules(count, mean_nodes=13, seed=seed),
            "random molecule-like graphs (no shared data)")


class RandomMoleculeDataset(GraphDataset):
    """Stand-in for ogbg-molesol when the shared data is absent: random molecules with OGB's
    feature ranges and encoders, a random regression target, an 80/10/10 split."""

    name = "random-molecules"

    def __init__(self, count: int = 1128, seed: int = 0):
        self.count, self.seed = count, seed
        self._base = molesol_dataset()

    def info(self) -> DatasetInfo:
        return self._base.info()

    def load(self) -> LoadedDataset:
        graphs = random_molecules(self.count, mean_nodes=13, seed=self.seed)
        labels = torch.randn(self.count, 1, generator=torch.Generator().manual_seed(self.seed))
        cut = [int(self.count * 0.8), int(self.count * 0.9)]
        index = torch.arange(self.count)
        return LoadedDataset(graphs, labels, {"train": index[:cut[0]],
                                              "valid": index[cut[0]:cut[1]],
                                              "test": index[cut[1]:]})

    def evaluate(self, y_true: Tensor, y_pred: Tensor) -> float:
        return float((y_true - y_pred).pow(2).mean().sqrt())

    def node_encoder(self, hidden: int) -> nn.Module | None:
        return self._base.node_encoder(hidden)

    def edge_encoder(self, hidden: int) -> nn.Module | None:
        return self._base.edge_encoder(hidden)


def benchmark_dataset():
    """(dataset, description): ogbg-molesol when present, else random molecules."""
    if ogb_root() is not None:
        return molesol_dataset(), "ogbg-molesol"
    return RandomMoleculeDataset(), "random molecule-like graphs (no shared data)"


def make_batches(graphs: list[dgl.DGLGraph], batch_size: int) -> list[tuple[dgl.DGLGraph, Tensor]]:
    """Consecutive batches with a fixed random regression target per graph."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for i in range(0, len(graphs) - batch_size + 1, batch_size):
        part = graphs[i:i + batch_size]
        out.append((dgl.batch(part), torch.randn(len(part), 1, generator=gen)))
    return out


# --- the three models -------------------------------------------------------------------------


def pipeline_dict(hidden: int | None = 300, layers: int | None = 5, path: Path = PIPELINE,
                  overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """The pipeline at ``path`` (validated and resolved), optionally at another width/depth;
    ``dataset.root`` points at the shared data when it is there."""
    from wlkit.pipeline import load_pipeline

    sets = [*([f"model.hidden={hidden}"] if hidden else []),
            *([f"model.num_layers={layers}"] if layers else []), *overrides]
    root = ogb_root()
    if root is not None:
        sets.append(f"dataset.root={root}")
    return load_pipeline(path, sets).data


def wlkit_model(pipe: dict[str, Any], dataset=None) -> nn.Module:
    from wlkit.model.build import build_model

    torch.manual_seed(0)
    return build_model(pipe, dataset or molesol_dataset())


def wlkit_optimizer(model: nn.Module, pipe: dict[str, Any], dataset=None):
    """The optimizer wlkit's LightningModule builds for this pipeline."""
    from wlkit.model.lightning import GraphPredictionModule

    dataset = dataset or molesol_dataset()
    module = GraphPredictionModule(model, dataset.info(), dataset.evaluate, pipe["train"])
    opt = module.configure_optimizers()
    return opt["optimizer"] if isinstance(opt, dict) else opt


class DGLGINE(nn.Module):
    """OGB's GIN (edge features, no virtual node) written with ``dgl.nn.GINEConv``."""

    def __init__(self, hidden: int, layers: int, dropout: float, out_dim: int = 1):
        super().__init__()
        from dgl.nn import GINEConv
        from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder

        self.atom = AtomEncoder(hidden)
        self.convs = nn.ModuleList()
        for _ in range(layers):
            block = nn.Module()
            block.bond = BondEncoder(hidden)
            block.conv = GINEConv(nn.Sequential(nn.Linear(hidden, 2 * hidden),
                                                nn.BatchNorm1d(2 * hidden), nn.ReLU(),
                                                nn.Linear(2 * hidden, hidden)), learn_eps=True)
            self.convs.append(block)
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.dropout = dropout
        self.head = nn.Linear(hidden, out_dim)

    def forward(self, g: dgl.DGLGraph) -> Tensor:
        h = self.atom(g.ndata["feat"])
        last = len(self.convs) - 1
        for i, (block, norm) in enumerate(zip(self.convs, self.norms)):
            h = norm(block.conv(g, h, block.bond(g.edata["feat"])))
            if i < last:
                h = F.relu(h)
            h = F.dropout(h, self.dropout, self.training)
        with g.local_scope():
            g.ndata["h"] = h
            return self.head(dgl.mean_nodes(g, "h"))


class PyGGINE(nn.Module):
    """The same network with ``torch_geometric.nn.GINEConv`` and ``global_mean_pool``."""

    def __init__(self, hidden: int, layers: int, dropout: float, out_dim: int = 1):
        super().__init__()
        from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder
        from torch_geometric.nn import GINEConv

        self.atom = AtomEncoder(hidden)
        self.convs = nn.ModuleList()
        for _ in range(layers):
            block = nn.Module()
            block.bond = BondEncoder(hidden)
            block.conv = GINEConv(nn.Sequential(nn.Linear(hidden, 2 * hidden),
                                                nn.BatchNorm1d(2 * hidden), nn.ReLU(),
                                                nn.Linear(2 * hidden, hidden)), train_eps=True)
            self.convs.append(block)
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.dropout = dropout
        self.head = nn.Linear(hidden, out_dim)

    def forward(self, data: dict[str, Tensor]) -> Tensor:
        from torch_geometric.nn import global_mean_pool

        h = self.atom(data["x"])
        last = len(self.convs) - 1
        for i, (block, norm) in enumerate(zip(self.convs, self.norms)):
            h = norm(block.conv(h, data["edge_index"], block.bond(data["edge_attr"])))
            if i < last:
                h = F.relu(h)
            h = F.dropout(h, self.dropout, self.training)
        return self.head(global_mean_pool(h, data["batch"], int(data["num_graphs"])))


def to_pyg(g: dgl.DGLGraph) -> dict[str, Tensor | int]:
    """One DGL batch in PyG's layout (converted once, outside the timings)."""
    src, dst = g.edges()
    batch = torch.repeat_interleave(torch.arange(g.batch_size), g.batch_num_nodes())
    return {"x": g.ndata["feat"], "edge_index": torch.stack([src, dst]).long(),
            "edge_attr": g.edata["feat"], "batch": batch, "num_graphs": g.batch_size}


def _renamed(key: str, framework: str) -> str:
    """A wlkit state-dict key as the hand-written model names it."""
    conv = "conv.apply_func" if framework == "dgl" else "conv.nn"
    for pattern, repl in ((r"^body\.node_input\.encoder\.", "atom."),
                          (r"^body\.stack\.layers\.(\d+)\.eps$", r"convs.\1.conv.eps"),
                          (r"^body\.stack\.layers\.(\d+)\.edge_encoder\.", r"convs.\1.bond."),
                          (r"^body\.stack\.layers\.(\d+)\.mlp\.", rf"convs.\1.{conv}."),
                          (r"^body\.stack\.norms\.", "norms."), (r"^head\.0\.", "head.")):
        key, done = re.subn(pattern, repl, key)
        if done:
            return key
    raise ValueError(f"unexpected parameter {key!r} in wlkit's GIN")


def copy_weights(source: nn.Module, target: nn.Module, framework: str) -> None:
    """Give ``target`` all parameters and BatchNorm buffers of wlkit's ``source``."""
    state = {_renamed(k, framework): v for k, v in source.state_dict().items()}
    target.load_state_dict(state, strict=True)


def check_same(wlkit: nn.Module, others: dict[str, tuple[nn.Module, Any]],
               graph: dgl.DGLGraph) -> dict[str, float]:
    """Largest output difference (eval mode) of each other model against wlkit's."""
    gaps = {}
    for m in (wlkit, *(m for m, _ in others.values())):
        m.eval()
    with torch.no_grad():
        ref = wlkit(graph)
        for name, (model, inputs) in others.items():
            gaps[name] = float((model(inputs) - ref).abs().max())
    for m in (wlkit, *(m for m, _ in others.values())):
        m.train()
    return gaps


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- training steps -----------------------------------------------------------------------------


def wlkit_epoch(model: nn.Module, optimizer, batches: list) -> None:
    """One step per batch as ``wlkit run`` computes it (model, masked loss, optimizer)."""
    from wlkit.model.lightning import masked_loss

    for graph, target in batches:
        optimizer.zero_grad(set_to_none=True)
        masked_loss("mse", model(graph), target).backward()
        optimizer.step()


def plain_epoch(model: nn.Module, optimizer, inputs: list) -> None:
    """One step per batch of a hand-written loop (model, MSE, optimizer)."""
    for x, target in inputs:
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(model(x), target).backward()
        optimizer.step()


def same_gin(hidden: int, layers: int, dropout: float = 0.5,
             frameworks: tuple[str, ...] = ("dgl",)):
    """wlkit's pipeline model and the requested hand-written ones with its weights."""
    pipe = pipeline_dict(hidden, layers, overrides=(f"model.dropout={dropout}",))
    dataset = molesol_dataset()
    model = wlkit_model(pipe, dataset)
    others: dict[str, nn.Module] = {}
    for name in frameworks:
        other = (DGLGINE if name == "dgl" else PyGGINE)(hidden, layers, dropout)
        copy_weights(model, other, name)
        others[name] = other
    return pipe, dataset, model, others


# --- the framework comparison shared by overhead.py and pyg_gin.py ------------------------------


def framework_benchmark(name: str, framework: str, title: str, goal: str, argv=None,
                        extra_rows=None) -> Path:
    """wlkit's GIN training step against ``framework``'s ("dgl" or "pyg") on the same batches.

    ``extra_rows(args)``, if given, returns more result rows (measured after these).

    Rows: the pipeline's width 300 with the optimizer each side would use (wlkit: the one its
    LightningModule configures; hand-written: ``torch.optim.Adam`` with defaults), the same
    with one optimizer setting on both sides (the model and loss alone), and width 64, where
    fixed per-operation costs weigh more.
    """
    from benchmarks import common

    parser = common.base_parser(title)
    parser.add_argument("--batches", type=int, default=None,
                        help="training steps per timed call (default 8, 4 with --quick)")
    args = common.finish_args(parser.parse_args(argv))
    if argv is None:  # command line: restart once with OMP_NUM_THREADS set
        common.reexec_with_env(args.threads)
    common.set_threads(args.threads)
    steps = args.batches or (2 if args.tiny else 4 if args.quick else 8)
    batch_size = 4 if args.tiny else 32
    graphs, source = molecule_graphs(steps * batch_size, tiny=args.tiny)
    batches = make_batches(graphs, batch_size)
    common.header(f"{title} ({source}, batch {batch_size}, {steps} steps per call)", args)
    widths = [(16, 2)] if args.tiny else [(300, 5), (64, 5)]
    rows = []
    for hidden, layers in widths:
        pipe, dataset, model, others = same_gin(hidden, layers, frameworks=(framework,))
        other = others[framework]
        inputs = [(g if framework == "dgl" else to_pyg(g), t) for g, t in batches]
        gap = check_same(model, {framework: (other, inputs[0][0])}, batches[0][0])[framework]
        variants = [("as shipped", wlkit_optimizer(model, pipe, dataset))] if hidden == 300 else []
        variants.append(("same optimizer", torch.optim.Adam(model.parameters(),
                                                            lr=pipe["train"]["lr"])))
        for label, optimizer in variants:
            theirs = torch.optim.Adam(other.parameters(), lr=pipe["train"]["lr"])
            sides = {"wlkit": lambda o=optimizer, m=model: wlkit_epoch(m, o, batches),
                     framework: lambda o=theirs, m=other, x=inputs: plain_epoch(m, o, x)}
            row = common.compare(
                f"width {hidden}, {layers} layers, {label}", sides, args, goal=goal,
                per_call=len(batches),
                params={"hidden": hidden, "layers": layers, "batch_size": batch_size,
                        "steps_per_call": len(batches), "optimizer": label,
                        "wlkit_optimizer": repr(optimizer.defaults.get("foreach")),
                        "num_params": count(model), f"{framework}_num_params": count(other),
                        "max_output_gap": gap,
                        "nodes_per_batch": sum(g.num_nodes() for g, _ in batches) / len(batches),
                        "edges_per_batch": sum(g.num_edges() for g, _ in batches) / len(batches)})
            rows.append(row)
            print(common.rows_table([row]), flush=True)
    if extra_rows is not None:
        rows += extra_rows(args)
    path = common.write_result(
        name, title, args, rows, settings={"data": source, "batch_size": batch_size,
                                           "steps_per_call": steps},
        notes=["one call = one training step (forward, loss, backward, optimizer step) per "
               "batch; medians per step", "both sides start from wlkit's initial weights; "
               "max_output_gap is the largest eval-mode output difference"])
    print(f"results: {path}")
    return path
