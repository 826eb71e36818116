"""Graph shapes and relabelling shared by the aggregator and readout tests."""

from __future__ import annotations

import dgl
import torch


def graph_shapes(seed: int = 0) -> dict[str, dgl.DGLGraph]:
    """Small graphs covering the edge cases an aggregator or readout must handle."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, 7, (20,), generator=gen)
    dst = torch.randint(0, 7, (20,), generator=gen)
    shapes = {
        # nodes 7 and 8 have no in-edges; duplicate edges and self-loops are likely
        "random_with_isolated": dgl.graph((src, dst), num_nodes=9),
        "no_edges": dgl.graph(([], []), num_nodes=5),
        "single_node": dgl.graph(([], []), num_nodes=1),
        "star_in_degree_37": dgl.graph((torch.arange(1, 38), torch.zeros(37, dtype=torch.long)),
                                       num_nodes=38),
        "cycle": dgl.graph((torch.arange(6), (torch.arange(6) + 1) % 6)),
    }
    shapes["mixed_batch"] = dgl.batch(list(shapes.values()))
    return shapes


def relabel(graph: dgl.DGLGraph, seed: int = 1) -> tuple[dgl.DGLGraph, torch.Tensor,
                                                          torch.Tensor]:
    """Randomly renumber the nodes and edges of ``graph`` (per graph, if batched).

    Returns ``(relabelled graph, new_of_old_node, old_of_new_edge)``: old node ``v`` is
    new node ``new_of_old_node[v]``; new edge ``j`` is old edge ``old_of_new_edge[j]``.
    ndata is carried along; the batch structure (graph membership of nodes) is kept.
    """
    gen = torch.Generator().manual_seed(seed)
    counts = graph.batch_num_nodes()
    offsets = torch.cumsum(counts, 0) - counts
    old_of_new = torch.cat([torch.randperm(int(n), generator=gen) + int(o)
                            for n, o in zip(counts, offsets)]) if graph.num_nodes() else \
        torch.zeros(0, dtype=torch.long)
    new_of_old = torch.argsort(old_of_new)
    edge_order = torch.randperm(graph.num_edges(), generator=gen)
    src, dst = graph.edges()
    # keep edges inside their graph's block: sort the shuffled edges by new graph id
    edge_graph = torch.repeat_interleave(torch.arange(graph.batch_size), graph.batch_num_edges())
    edge_order = edge_order[torch.argsort(edge_graph[edge_order], stable=True)]
    out = dgl.graph((new_of_old[src[edge_order].long()], new_of_old[dst[edge_order].long()]),
                    num_nodes=graph.num_nodes())
    for key, value in graph.ndata.items():
        out.ndata[key] = value[old_of_new]
    out.set_batch_num_nodes(graph.batch_num_nodes())
    out.set_batch_num_edges(graph.batch_num_edges())
    return out, new_of_old, edge_order
