"""PathNN: path enumeration against networkx, and the training step time per batch.

1. Enumeration. ``wlkit.plugins.policies.pathnn.enumerate_paths`` (vectorised frontier expansion in
   numpy) against a straightforward networkx reference on the same graphs and K:

   * ``ap``: ``nx.all_simple_paths(G, s, targets, cutoff=K)`` from every node ``s`` (one call
     per start node, all other nodes as targets) plus the distance of every path node from
     ``s`` (``nx.single_source_shortest_path_length``), as the AP policy needs them;
   * ``sp_plus``: ``nx.all_shortest_paths(G, s, t)`` for every ordered pair at distance <= K;
   * ``sp``: ``nx.single_source_shortest_path(G, s, cutoff=K)`` from every node.

   Graphs: EXP (the first 100 of the shared file), CSL (the ten classes C(41, R)) and
   ogbg-molbace (the first 300 molecules). Both sides produce the same path counts (checked).
   Sides alternate (ours first on even repetitions, networkx first on odd ones); the table
   shows the median wall time over the repetitions and the ratio networkx / ours. The time
   of the whole ``PathPolicy.prepare`` (enumeration + prefix trie + tensors, what the cache
   stores) is reported next to it.

2. Training step. One optimiser step (forward, backward, Adam) on one batch, for the shipped
   pipelines' settings: the trie LSTM of ``PathNN`` (shared prefixes evaluated once) against
   ``nn.LSTM`` run on every path of every length (the authors' formulation, same parameters,
   same result). Median over the repetitions after one warm-up step, sides alternating.
   Batches: CSL (SP+ K=6, AP K=5), ogbg-molbace (128 molecules) and ZINC-12k (128 molecules,
   SP+ and AP with the authors' settings); ``--training-only`` skips part 1.

Run: ``.venv/bin/python benchmarks/pathnn.py [--repeats 5] [--threads 1] [--quick]``; writes
``benchmarks/results/pathnn.json`` with the machine's description. Data: the shared files
under ``../shared/data`` (``--data``); missing sets are skipped with a note.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT = HERE / "results" / "pathnn.json"


def machine(threads: int) -> dict:
    import numpy
    import torch

    from wlkit.runner import hardware

    return {**hardware(), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "networkx": __import__("networkx").__version__,
            "torch_threads": threads,
            "load_average_at_start": list(os.getloadavg()),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


# --------------------------------------------------------------------------- graph sets


def graph_sets(data: Path, quick: bool) -> tuple[dict[str, list], list[str]]:
    """name -> list of (num_nodes, edge array [m, 2] with u < v)."""
    import numpy as np

    from wlkit.graphs import CSL_SKIPS, csl

    notes = []
    sets: dict[str, list] = {"CSL": [(g.num_nodes, g.edges) for g in
                                     (csl(41, r) for r in CSL_SKIPS)]}
    exp = data / "wl" / "EXP" / "GRAPHSAT.txt"
    if exp.exists():
        from wlkit.datasets.wl_files import read_ppgn_text

        graphs = read_ppgn_text(exp)[: 20 if quick else 100]
        sets["EXP"] = [(g.num_nodes, g.edges) for g, _ in graphs]
    else:
        notes.append(f"EXP skipped: {exp} not found")
    ogb = data / "ogb"
    if (ogb / "ogbg_molbace").exists():
        from wlkit.model.build import instantiate_dataset

        dataset = instantiate_dataset({"name": "ogbg-molbace", "root": str(ogb)})
        dataset.prepare_data()
        loaded = dataset.load()
        mols = []
        for g in loaded.graphs[: 60 if quick else 300]:
            src, dst = (t.numpy().astype(np.int64) for t in g.edges())
            keep = src < dst
            mols.append((g.num_nodes(), np.stack([src[keep], dst[keep]], 1)))
        sets["molbace"] = mols
    else:
        notes.append(f"molbace skipped: {ogb / 'ogbg_molbace'} not found")
    return sets, notes


def ours(graphs: list, kind: str, K: int) -> int:
    from wlkit.plugins.policies.pathnn import enumerate_paths

    total = 0
    for n, edges in graphs:
        found = enumerate_paths(n, edges[:, 0], edges[:, 1], K, kind, max_paths=None,
                                distances=(kind == "ap"))
        total += sum(len(v["paths"]) for v in found.values())
    return total


def ours_prepare(graphs: list, kind: str, K: int) -> int:
    """The whole ``PathPolicy.prepare`` (enumeration, prefix trie, tensors) per graph."""
    import dgl
    import numpy as np

    from wlkit.plugins.policies.pathnn import PathPolicy

    policy = PathPolicy(paths=kind, K=K, max_paths=10**9)
    total = 0
    for n, edges in graphs:
        g = dgl.graph((np.concatenate([edges[:, 0], edges[:, 1]]),
                       np.concatenate([edges[:, 1], edges[:, 0]])), num_nodes=n)
        out = policy.prepare(g)
        total += sum(len(out[f"node_{length}_{length}"]) for length in range(1, K + 1))
    return total


def reference(graphs: list, kind: str, K: int) -> int:
    import networkx as nx

    total = 0
    for n, edges in graphs:
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(edges.tolist())
        for s in g:
            if kind == "ap":
                dist = nx.single_source_shortest_path_length(g, s)
                for path in nx.all_simple_paths(g, s, [t for t in g if t != s], cutoff=K):
                    _ = [dist[v] for v in path]
                    total += 1
            elif kind == "sp":
                total += len(nx.single_source_shortest_path(g, s, cutoff=K)) - 1
            else:
                for t, d in nx.single_source_shortest_path_length(g, s, cutoff=K).items():
                    if d >= 1:
                        total += sum(1 for _ in nx.all_shortest_paths(g, s, t))
    return total


def bench_enumeration(sets: dict, repeats: int, quick: bool) -> list[dict]:
    cases = [("ap", 3), ("ap", 4), ("sp_plus", 6), ("sp", 6)]
    if not quick:
        cases.insert(2, ("ap", 5))
    rows = []
    for name, graphs in sets.items():
        for kind, K in cases:
            times: dict[str, list[float]] = {"ours": [], "networkx": [], "prepare": []}
            counts = {}
            functions = {"ours": ours, "networkx": reference, "prepare": ours_prepare}
            for rep in range(repeats):
                sides = (("ours", "networkx", "prepare") if rep % 2 == 0 else
                         ("networkx", "ours", "prepare"))
                for side in sides:
                    fn = functions[side]
                    start = time.perf_counter()
                    counts[side] = fn(graphs, kind, K)
                    times[side].append(time.perf_counter() - start)
            if not counts["ours"] == counts["networkx"] == counts["prepare"]:
                raise SystemExit(f"path counts differ on {name} {kind} K={K}: {counts}")
            med = {side: statistics.median(v) for side, v in times.items()}
            rows.append({"graphs": name, "count": len(graphs), "kind": kind, "K": K,
                         "paths": counts["ours"], "ours_s": med["ours"],
                         "networkx_s": med["networkx"], "prepare_s": med["prepare"],
                         "speedup": med["networkx"] / med["ours"], "times": times})
            if kind == "ap" and K == 4:  # the goal: >= 10x networkx for AP at K=4
                rows[-1].update(goal=10.0, meets_goal=rows[-1]["speedup"] >= 10.0)
            print(f"  {name:8s} {kind:8s} K={K}  {counts['ours']:>9,} paths  ours "
                  f"{med['ours']:8.4f}s  networkx {med['networkx']:8.3f}s  "
                  f"x{med['networkx'] / med['ours']:.1f}  (prepare incl. trie "
                  f"{med['prepare']:.4f}s)", flush=True)
    return rows


# --------------------------------------------------------------------------- training step


def naive_paths_into_starts(model, h, steps, edge_h):
    """The authors' formulation: nn.LSTM over every path of the layer, far end first."""
    import torch

    from wlkit.plugins.policies.pathnn import trie_paths

    paths = trie_paths(steps)
    length = paths.shape[1] - 1
    index = torch.arange(len(paths))
    dists, edges = [], []
    for j in range(length, -1, -1):
        if "dist" in steps[j]:
            dists.append(steps[j]["dist"][index])
        if edge_h is not None:
            edges.append(edge_h[steps[j]["edge"][index]] if j else
                         edge_h.new_zeros(len(paths), model.hidden))
        if j:
            index = steps[j]["parent"][index]
    parts = [model.dropout(h)[paths]]
    if dists:
        parts.append(model.distance_embedding(torch.stack(dists, 1)))
    if edges:
        parts.append(torch.stack(edges, 1))
    x = torch.cat(parts, -1).flip(1)
    _, (final, _) = model.lstm(x)
    out = h.new_zeros(h.shape[0], model.hidden).index_add(0, paths[:, 0], final[0])
    if model.path_agg == "mean":
        count = torch.bincount(paths[:, 0], minlength=h.shape[0]).clamp(min=1)
        out = out / count.unsqueeze(1)
    return out


def bench_training(data: Path, repeats: int) -> list[dict]:
    import dgl
    import torch

    from wlkit.model.build import build_model, instantiate_dataset, instantiate_policy
    from wlkit.pipeline import load_pipeline

    configs = [("csl_pathnn_sp_plus.yaml", [], 32), ("csl_pathnn_ap.yaml", [], 8)]
    if (data / "ogb" / "ogbg_molbace").exists():
        configs.append(("ogbg-molbace_pathnn.yaml", [f"dataset.root={data / 'ogb'}"], 128))
    if (data / "zinc").exists():  # the authors' ZINC settings, their batch of 128
        for file in ("zinc_pathnn_sp_plus.yaml", "zinc_pathnn_ap.yaml"):
            configs.append((file, [f"dataset.root={data / 'zinc'}"], 128))
    rows = []
    for file, overrides, batch_size in configs:
        pipe = load_pipeline(ROOT / "pipelines" / file, overrides).data
        dataset = instantiate_dataset(pipe["dataset"])
        dataset.prepare_data()
        graphs = dataset.load().graphs[:batch_size]
        policy = instantiate_policy(pipe)
        batch = policy.collate(graphs, [policy.prepare(g) for g in graphs])
        graph = dgl.batch(graphs)
        torch.manual_seed(0)
        model = build_model(pipe, dataset, policy=policy).train()
        body = model.body
        trie_forward = body._paths_into_starts
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
        sides = {"trie": trie_forward,
                 "nn_lstm": lambda h, s, e, body=body: naive_paths_into_starts(body, h, s, e)}

        def step(side: str, model=model, body=body, graph=graph, batch=batch,
                 optimiser=optimiser, sides=sides) -> float:
            body._paths_into_starts = sides[side]
            start = time.perf_counter()
            loss = model(graph, batch).square().mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            return time.perf_counter() - start

        times: dict[str, list[float]] = {"trie": [], "nn_lstm": []}
        step("trie")
        step("nn_lstm")  # warm-up
        for rep in range(repeats):
            for side in (("trie", "nn_lstm") if rep % 2 == 0 else ("nn_lstm", "trie")):
                times[side].append(step(side))
        body._paths_into_starts = trie_forward
        med = {side: statistics.median(v) for side, v in times.items()}
        paths = sum(len(s[-1]["node"]) for s in batch["layers"])
        rows.append({"pipeline": file, "batch_graphs": batch_size, "paths": paths,
                     "policy": {k: pipe["policy"][k] for k in ("paths", "K")},
                     "hidden": pipe["model"]["hidden"], "trie_s": med["trie"],
                     "nn_lstm_s": med["nn_lstm"], "speedup": med["nn_lstm"] / med["trie"],
                     "times": times})
        print(f"  {file:28s} batch {batch_size:3d}  {paths:>8,} paths  trie "
              f"{med['trie']:.3f}s  nn.LSTM {med['nn_lstm']:.3f}s  "
              f"x{med['nn_lstm'] / med['trie']:.2f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="fewer graphs, no AP K=5")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--training-only", action="store_true",
                        help="only part 2 (the enumeration rows of the result file are kept)")
    args = parser.parse_args(argv)
    import torch

    from wlkit import atomic_write_json

    torch.set_num_threads(args.threads)
    info = machine(args.threads)
    print(f"PathNN benchmark on {info['cpu']} ({args.threads} thread(s), load "
          f"{info['load_average_at_start'][0]:.1f}), {args.repeats} repetitions", flush=True)
    sets, notes = graph_sets(args.data, args.quick)
    for note in notes:
        print("  note:", note)
    kept_from, kept_machine = None, None
    if args.training_only and args.out.exists():
        previous = json.loads(args.out.read_text())
        enumeration = previous.get("enumeration", [])
        kept_from = previous.get("enumeration_command", "this run")  # an earlier keep's origin
        if kept_from == "this run":
            kept_from = previous.get("command")
        kept_machine = previous.get("enumeration_machine", previous.get("machine"))
    else:
        print("path enumeration (median wall time per graph set):", flush=True)
        enumeration = bench_enumeration(sets, args.repeats, args.quick)
    print("training step per batch (median wall time):", flush=True)
    training = bench_training(args.data, args.repeats)
    atomic_write_json(args.out, {
        "benchmark": "pathnn", "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info, "repeats": args.repeats, "quick": args.quick, "notes": notes,
        "enumeration": enumeration, "enumeration_command": kept_from or "this run",
        "enumeration_machine": kept_machine or info, "training_step": training})
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
