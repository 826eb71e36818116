"""Scale of ``wlkit analyze`` under 1-WL on a molhiv-sized synthetic dataset.

ogbg-molhiv (41,127 graphs, 25.5 nodes and 27.5 bonds on average) is not available offline,
so this builds 41,127 random molecule-like DGL graphs of the same size distribution (a random
tree plus a few ring-closing edges; 9 integer atom features and 3 integer bond features with
skewed categorical values, stored as OGB stores them: both arc directions) and times every
stage of the analysis: initial colours, the joint 1-WL refinement, isomorphism resolution.

Run: ``.venv/bin/python benchmarks/analyze_scale.py [--graphs 41127] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import resource
import time

import dgl
import numpy as np
import torch

from wlkit.tools.analyze import (
    DEFAULT_BUDGET,
    analyze,
    estimate_work,
    format_table,
    labelled_graphs,
)


def molecule_like(rng: np.random.Generator, count: int) -> list[dgl.DGLGraph]:
    sizes = np.clip(np.round(rng.gamma(4.0, 25.5 / 4.0, size=count)), 2, 222).astype(int)
    atom_p = np.array([0.72, 0.12, 0.1, 0.03, 0.02, 0.01])
    out = []
    for n in sizes.tolist():
        parent = np.array([rng.integers(0, v) for v in range(1, n)], dtype=np.int64)
        u, v = list(parent), list(range(1, n))
        rings = rng.binomial(max(n // 8, 0), 0.8) if n > 5 else 0
        for _ in range(rings):
            a, b = rng.choice(n, size=2, replace=False)
            if a != b and not any((x == a and y == b) or (x == b and y == a)
                                  for x, y in zip(u, v)):
                u.append(int(a))
                v.append(int(b))
        src = torch.tensor(u + v)
        dst = torch.tensor(v + u)
        g = dgl.graph((src, dst), num_nodes=n)
        feat = np.zeros((n, 9), dtype=np.int64)
        feat[:, 0] = rng.choice(len(atom_p), size=n, p=atom_p)
        feat[:, 1] = rng.binomial(1, 0.02, size=n)
        feat[:, 2] = rng.integers(1, 5, size=n)
        feat[:, 4] = rng.integers(0, 4, size=n)
        g.ndata["feat"] = torch.from_numpy(feat)
        bond = np.zeros((len(u), 3), dtype=np.int64)
        bond[:, 0] = rng.choice(4, size=len(u), p=[0.6, 0.15, 0.05, 0.2])
        bond[:, 2] = rng.binomial(1, 0.3, size=len(u))
        g.edata["feat"] = torch.from_numpy(np.concatenate([bond, bond]))
        out.append(g)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=41127)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--structure-only", action="store_true",
                        help="ignore the features (many more collisions to resolve)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    graphs = molecule_like(rng, args.graphs)
    t1 = time.perf_counter()
    nodes = sum(g.num_nodes() for g in graphs)
    print(f"generated {len(graphs)} graphs, {nodes} nodes ({t1 - t0:.1f} s, not timed below)")
    use = not args.structure_only
    simple, info = labelled_graphs(graphs, node_features=use, edge_features=use)
    t2 = time.perf_counter()
    print(f"initial colours: {t2 - t1:.1f} s ({info['node_colours']} node, "
          f"{info['edge_colours']} edge colours)")
    labels = (rng.random((len(graphs), 1)) < 0.035).astype(np.float64)
    perm = rng.permutation(len(graphs))
    cut1, cut2 = int(0.8 * len(graphs)), int(0.9 * len(graphs))
    splits = {"train": perm[:cut1], "valid": perm[cut1:cut2], "test": perm[cut2:]}
    for oracle in ("2-FWL", "node_marked"):
        work = estimate_work(simple, oracle)
        print(f"{oracle} would need {work:.2e} work units "
              f"({'refused' if work > DEFAULT_BUDGET else 'allowed'} at the default budget "
              f"{DEFAULT_BUDGET:.0e})")
    report = analyze(simple, labels, splits, "binary", ["1-WL"],
                     progress=lambda line: print(line, flush=True))
    t3 = time.perf_counter()
    oracle = report["oracles"]["1-WL"]
    print(f"1-WL refinement: {oracle['seconds']:.1f} s, {oracle['rounds']} rounds; "
          f"isomorphism: {report['isomorphism']['seconds']:.1f} s, "
          f"{report['isomorphism']['candidates']} candidates, "
          f"{report['isomorphism']['checks']} tests, invariants "
          f"{report['isomorphism']['invariant']}, complete {report['isomorphism']['complete']}")
    print(f"analyze() total: {t3 - t2:.1f} s; initial colours + analyze: {t3 - t1:.1f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(format_table(report), end="")


if __name__ == "__main__":
    main()
