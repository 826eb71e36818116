"""The hooks wlkit calls. The entry point ``example = wlkit_plugin_example.plugin`` names this
module; wlkit registers it with its plugin manager and calls every ``wlkit_*`` hook found here.

Each hook returns records (name, factory, typed parameter schema, summary and facts); nothing
is registered by import side effects. The parameters of a record are passed to its factory as
keyword arguments after wlkit has checked them, and ``wlkit plugins`` lists them.
"""

from __future__ import annotations

from wlkit import (
    AggregatorRecord,
    Param,
    PositionalEncodingRecord,
    ReadoutRecord,
    SubgraphPolicyRecord,
    hookimpl,
)
from wlkit_plugin_example.components import (
    DegreeOneHot,
    MarkedCopiesPolicy,
    SoftmaxAggregator,
    SumMaxReadout,
)


@hookimpl
def wlkit_aggregators() -> list[AggregatorRecord]:
    return [
        AggregatorRecord(
            # Component names share one namespace per family with wlkit's built-ins and every
            # other plugin, and a clash stops wlkit. wlkit has a built-in `softmax` aggregator,
            # so this one carries the package's prefix.
            name="example_softmax",
            factory=SoftmaxAggregator,  # called as SoftmaxAggregator(dim, **params)
            summary="Softmax-weighted sum of messages, learnable inverse temperature "
                    "(DeeperGCN).",
            params=(
                Param("beta", float, 1.0, "initial inverse temperature: 0 = mean, large = max"),
                Param("learn_beta", bool, True, "train beta with the model"),
            ),
            expressivity="<1-WL",
        ),
    ]


@hookimpl
def wlkit_readouts() -> list[ReadoutRecord]:
    return [
        ReadoutRecord(
            name="sum_max",
            factory=SumMaxReadout,  # called as SumMaxReadout(dim, **params)
            summary="Sum and max pooling concatenated (output width 2 * hidden).",
            params=(
                Param("first", str, "sum", "reduction of the first half",
                      choices=("sum", "mean")),
            ),
            expressivity="1-WL",
        ),
    ]


@hookimpl
def wlkit_positional_encodings() -> list[PositionalEncodingRecord]:
    return [
        PositionalEncodingRecord(
            name="degree_onehot",
            factory=DegreeOneHot,  # called as DegreeOneHot(**params)
            summary="One-hot in-degree clipped to max_degree (width max_degree + 1).",
            params=(
                Param("max_degree", int, 8, "largest degree with its own column",
                      minimum=1, maximum=1024),
            ),
            expressivity="<=1-WL (one colour-refinement step)",
        ),
    ]


@hookimpl
def wlkit_subgraph_policies() -> list[SubgraphPolicyRecord]:
    return [
        SubgraphPolicyRecord(
            name="marked_copies",
            factory=MarkedCopiesPolicy,  # called as MarkedCopiesPolicy(**params)
            summary="One copy of the graph per node with that node marked; layers and "
                    "readout per copy, pooled over the copies (DS-GNN node marking).",
            params=(
                Param("pool", str, "mean", "pooling of the copies of a graph",
                      choices=("mean", "sum", "max")),
            ),
            # The exact bound is the oracle MarkedCopiesPolicy.wl_oracle = "node_marked";
            # `wlkit check` and `wlkit separate` hold the model to it.
            expressivity=">1-WL (node-marked DS-WL)",
        ),
    ]
