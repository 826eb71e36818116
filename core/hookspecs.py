"""The hooks a wlkit plugin can implement.

Each hook is one typed, documented function. Built-in plugins implement them through the same
plugin manager as third-party ones. A plugin module implements any subset::

    from wlkit import hookimpl, AggregatorRecord

    @hookimpl
    def wlkit_aggregators():
        return [AggregatorRecord(name="mine", factory=MyAggregator, summary="...")]

and is registered through the entry-point group ``wlkit`` in its package metadata.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from wlkit.records import (
        AggregatorRecord,
        DatasetRecord,
        LayerRecord,
        OracleFamilyRecord,
        OracleRecord,
        PositionalEncodingRecord,
        ReadoutRecord,
        SubgraphPolicyRecord,
        WLSuiteRecord,
    )

hookspec = pluggy.HookspecMarker("wlkit")
hookimpl = pluggy.HookimplMarker("wlkit")


# --- registration hooks: one per component family --------------------------------------


@hookspec
def wlkit_aggregators() -> list[AggregatorRecord]:
    """Return the aggregators this plugin provides.

    ``record.factory(dim, **params)`` must return a :class:`wlkit.Aggregator` whose
    ``forward(graph, messages)`` maps one message per edge ([num_edges, dim]) to one vector
    per destination node ([num_nodes, dim]). Nodes without in-edges get a defined value.
    """


@hookspec
def wlkit_positional_encodings() -> list[PositionalEncodingRecord]:
    """Return the positional/structural encodings this plugin provides.

    ``record.factory(**params)`` must return a :class:`wlkit.PositionalEncoding` with an int
    ``dim`` and ``compute(graph) -> Tensor[num_nodes, dim]``. wlkit computes it once per graph
    and caches it on disk under the encoding's cache key. An optional model-side half,
    ``input_module()``, transforms the cached columns inside the model (e.g. random sign
    flips of eigenvectors in training, or a SignNet encoder).
    """


@hookspec
def wlkit_subgraph_policies() -> list[SubgraphPolicyRecord]:
    """Return the subgraph policies (ego-nets, marking, paths, random features...) provided.

    A policy has a CPU-side ``prepare`` (run once per graph and cached) and a model-side half
    that wraps the message-passing layers and pools back to graphs. ``record.factory(**params)``
    returns the policy object.
    """


@hookspec
def wlkit_readouts() -> list[ReadoutRecord]:
    """Return the readouts (graph pooling functions) provided.

    ``record.factory(dim, **params)`` must return a :class:`wlkit.Readout` mapping node features
    [num_nodes, dim] of a batched graph to [batch_size, out_dim].
    """


@hookspec
def wlkit_layers() -> list[LayerRecord]:
    """Return the message-passing layers (backbones) provided.

    ``record.factory(dim, aggregator, **params)`` returns an ``nn.Module`` with
    ``forward(graph, h, edge_feats=None) -> Tensor[num_nodes, dim]``. ``aggregator`` is the
    pipeline's :class:`wlkit.Aggregator` (width ``dim``); layers whose record says
    ``uses_aggregator=False`` receive it but may ignore it. Layers whose record says
    ``uses_edge_features=True`` also receive ``edge_encoder=``, a zero-argument callable that
    builds a fresh module mapping the raw ``edata['feat']`` to width ``dim`` (the dataset's own
    encoder, e.g. OGB's BondEncoder, or a linear map); their ``forward`` gets the raw edge
    features as ``edge_feats``.
    """


@hookspec
def wlkit_datasets() -> list[DatasetRecord]:
    """Return the datasets provided.

    ``record.factory(**params)`` returns a :class:`wlkit.GraphDataset`. Its ``info()`` must not
    load or download data.
    """


# --- registration hooks of the WL tools: suites and oracles ----------------------------


@hookspec
def wlkit_wl_suites() -> list[WLSuiteRecord]:
    """Return the WL-separation suites this plugin provides (``wlkit separate --suite``).

    ``record.factory(root)`` returns a :class:`wlkit.WLSuite` (``root`` is ``--root``, or
    None); ``record.needs_files`` says whether the suite reads files under ``root``
    (``accepts_root`` whether it takes a ``root`` at all). Building the record must not
    build the pairs::

        @hookimpl
        def wlkit_wl_suites():
            return [WLSuiteRecord(name="mine", factory=lambda root: MySuite(),
                                  summary="my pairs")]
    """


@hookspec
def wlkit_oracles() -> list[OracleRecord | OracleFamilyRecord]:
    """Return the exact WL oracles this plugin provides (:mod:`wlkit.wl`).

    An :class:`wlkit.OracleRecord` names one oracle: either a ``refine`` function (joint
    node colours of a list of graphs, see :func:`wlkit.wl.register_oracle`) or a ``bag``
    function (the copies of one graph; wlkit refines them with 1-WL as DS-WL does). An
    :class:`wlkit.OracleFamilyRecord` resolves a parameterised family of names on first use
    (``resolve(name) -> OracleRecord | None``). Every function of :mod:`wlkit.wl`, ``wlkit
    analyze --oracle`` and ``wlkit separate`` then accept the names. Bump ``version`` when
    answers change: cached oracle answers are keyed by it.
    """


# --- the command line -----------------------------------------------------------------


@hookspec
def wlkit_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add subcommands to ``wlkit`` (as datasette's ``register_commands``).

    ``subparsers`` is the ``argparse`` sub-parser action of the ``wlkit`` parser. Add one
    parser per command and set its handler, a callable taking the parsed
    ``argparse.Namespace`` and returning the exit code::

        @hookimpl
        def wlkit_commands(subparsers):
            parser = subparsers.add_parser("hello", help="say hello")
            parser.add_argument("--name", default="world")
            parser.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)

    Raise :class:`wlkit.WlkitError` in the handler for bad input (exit 2, one message).
    The built-in subcommands (``wlkit.cli.builtin``) are added first; a plugin whose
    command name is taken, or whose hook fails, is skipped with a warning naming it.
    """


# --- lifecycle hooks ------------------------------------------------------------------


@hookspec
def wlkit_pipeline_loaded(pipeline: dict[str, Any], path: str | None) -> None:
    """Called once a pipeline has been validated and resolved, before any data loads.

    ``pipeline`` is the resolved mapping (read-only by convention); ``path`` is the YAML file
    or None. Raise :class:`wlkit.WlkitError` to refuse a pipeline with a clear message.
    """


@hookspec
def wlkit_configure_trainer(trainer_kwargs: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """Adjust the keyword arguments of ``lightning.Trainer`` in place before each fit.

    ``trainer_kwargs`` already holds wlkit's settings and the pipeline's ``trainer:`` section;
    changes apply to this seed's fit only.
    """


@hookspec
def wlkit_callbacks(pipeline: dict[str, Any]) -> list[Any]:
    """Return extra Lightning callbacks to add to every fit (one fit per seed).

    Called once per seed, so stateful callbacks start fresh for each seed.
    """
