"""Contract breaches: non-finite numbers, sizes that cannot fit, wrong output shapes and
case-only misspellings are each one clear error (exit 2) before any data loads."""

from __future__ import annotations

import random
import types

import dgl
import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import TINY_PIPELINE
from wlkit import (
    AggregatorRecord,
    LayerRecord,
    Param,
    PositionalEncoding,
    PositionalEncodingRecord,
    ReadoutRecord,
    SubgraphPolicy,
    SubgraphPolicyRecord,
    WlkitError,
    hookimpl,
    registered_plugin,
)
from wlkit.cli import main
from wlkit.components import (
    Aggregator,
    ComponentError,
    Readout,
    component_label,
    component_where,
)
from wlkit.errors import PipelineError, PluginError
from wlkit.model.build import (
    build_model,
    instantiate_dataset,
    meta_parameter_count,
    parameter_lower_bound,
    trial_forward,
)
from wlkit.params import choices_hint, did_you_mean
from wlkit.pipeline import load_pipeline
from wlkit.runner import run_pipeline

# --- non-finite numbers ------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_float_param_refuses_non_finite(value):
    converted, problem = Param("lr", float, 1e-3, minimum=0.0).check(value)
    assert converted is None and problem == f"must be a finite number, got {value}"


def test_float_param_may_allow_non_finite():
    param = Param("limit", float, float("inf"), finite=False)
    assert param.check(float("inf")) == (float("inf"), None)
    assert param.describe()["finite"] is False
    assert "finite" not in Param("lr", float, 1e-3).describe()


@pytest.mark.parametrize("section,key,value", [
    ("train", "lr", ".nan"), ("train", "lr", ".inf"), ("model", "dropout", ".nan"),
    ("train", "weight_decay", ".nan"), ("train", "grad_clip", "-.inf"),
])
def test_non_finite_pipeline_values_name_file_line_and_path(write_pipeline, capsys, section,
                                                            key, value):
    path = write_pipeline(f"name: t\ndataset: wl_pairs\n{section}:\n  {key}: {value}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    line = 4
    assert f"{path}:{line}: {section}.{key}: must be a finite number" in err
    assert "\n    hint: " in err and "Traceback" not in err


def test_non_finite_through_set_names_the_override(write_pipeline, capsys):
    path = write_pipeline(TINY_PIPELINE)
    assert main(["validate", str(path), "--set", "train.lr=.nan"]) == 2
    err = capsys.readouterr().err
    assert "--set train.lr=.nan: train.lr: must be a finite number, got nan" in err


def test_non_finite_component_param_is_refused(write_pipeline):
    text = TINY_PIPELINE.replace("layer: gin,", "layer: {name: gin, eps: .nan},")
    with pytest.raises(PipelineError, match=r"model\.layer\.eps: must be a finite number"):
        load_pipeline(write_pipeline(text))


# --- sizes that cannot fit ---------------------------------------------------------------


def test_too_many_seeds_is_refused_without_building_the_list(write_pipeline):
    text = TINY_PIPELINE.replace("seeds: 2", "seeds: 1099511627776")
    with pytest.raises(PipelineError, match=r"seeds: asks for 1099511627776 seeds.*at most "
                                            r"10000"):
        load_pipeline(write_pipeline(text))


def test_seed_outside_numpys_range_is_refused(write_pipeline):
    # Lightning's seed_everything would warn and silently train with seed 0 instead
    text = TINY_PIPELINE.replace("seeds: 2", "seeds: [0, 4294967296]")
    with pytest.raises(PipelineError, match=r"seeds\[1\]: seed 4294967296 is outside"):
        load_pipeline(write_pipeline(text))


@pytest.mark.parametrize("override,path", [
    ("model.hidden=1099511627776", "model.hidden"),
    ("model.head_layers=1000000000", "model.head_layers"),
])
def test_sizes_that_cannot_fit_are_refused_with_estimate_and_bound(write_pipeline, capsys,
                                                                   override, path):
    pipeline = write_pipeline(TINY_PIPELINE)
    assert main(["validate", str(pipeline), "--set", override]) == 2
    err = capsys.readouterr().err
    assert f"{path}: the model would have at least " in err
    assert "in training (16 bytes each); the bound is " in err and "hint: lower it" in err


def test_encoding_width_counts_towards_the_bound(write_pipeline, monkeypatch):
    monkeypatch.setenv("WLKIT_MAX_MODEL_BYTES", "1e6")  # ~62k parameters
    text = TINY_PIPELINE.replace("steps: 4", "steps: 256").replace("hidden: 8", "hidden: 256")
    with pytest.raises(PipelineError, match=r"yaml:3: encodings: the model would have at least"):
        load_pipeline(write_pipeline(text))
    info = instantiate_dataset({"name": "wl_pairs"}).info()
    cfg = {"hidden": 256, "num_layers": 2, "head_layers": 2, "norm": "batch",
           "virtual_node": False}
    assert parameter_lower_bound(cfg, info, 256)["encodings"] == 256 * 256 + 512


def test_lower_bound_is_below_the_real_count(write_pipeline):
    for extra in ("", ", virtual_node: true", ", head_layers: 4, norm: none"):
        text = TINY_PIPELINE.replace("readout: sum}", "readout: sum" + extra + "}")
        cfg = load_pipeline(write_pipeline(text)).data
        dataset = instantiate_dataset(cfg["dataset"])
        real = sum(p.numel() for p in build_model(cfg, dataset).parameters())
        bound = sum(parameter_lower_bound(cfg["model"], dataset.info(), 4).values())
        assert bound <= real
        assert meta_parameter_count(cfg, dataset) == real


class WideLayer(nn.Module):
    """A layer whose ``width`` parameter sets a hidden matrix (what the loader cannot see)."""

    def __init__(self, dim, aggregator, width: int = 4):
        super().__init__()
        self.up, self.down = nn.Linear(dim, width), nn.Linear(width, dim)

    def forward(self, graph, h, edge_feats=None):
        return self.down(self.up(h))


def test_plugin_width_is_refused_from_the_meta_build(write_pipeline, capsys, monkeypatch):
    monkeypatch.setenv("WLKIT_MAX_MODEL_BYTES", "1e9")
    plugin = types.SimpleNamespace(wlkit_layers=hookimpl(lambda: [LayerRecord(
        name="wide", factory=WideLayer, summary="test layer",
        params=(Param("width", int, 4, "hidden width", minimum=1),))]))
    text = TINY_PIPELINE.replace("layer: gin,", "layer: {name: wide, width: 100000000},")
    with registered_plugin(plugin, "contracts-wide"):
        path = write_pipeline(text)
        load_pipeline(path)  # the loader's bound cannot see a plugin's own widths
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert "model: the model would have 3,400,000," in err and "GiB in training" in err
        with pytest.raises(WlkitError, match="the model would have"):
            run_pipeline(load_pipeline(path), out=path.parent / "run", progress=False)
        assert not (path.parent / "run").exists()


# --- wrong output shapes -----------------------------------------------------------------


class WideAggregator(Aggregator):
    """Returns one column too many from its fused path."""

    def reduce(self, graph, messages):
        return messages.new_zeros(graph.num_nodes(), self.dim + 1)

    def aggregate_neighbours(self, graph, feats):
        return feats.new_zeros(graph.num_nodes(), self.dim + 1)


class ShortAggregator(Aggregator):
    """Returns one row per edge instead of one per node (only reduce, no fused path)."""

    def reduce(self, graph, messages):
        return messages


class FlatReadout(Readout):
    def pool(self, graph, feats):
        return feats.sum(0)


class HalfLayer(nn.Module):
    def __init__(self, dim, aggregator):
        super().__init__()
        self.linear = nn.Linear(dim, dim // 2)

    def forward(self, graph, h, edge_feats=None):
        return self.linear(h)


class ShortEncoding(PositionalEncoding):
    dim = 3

    def compute(self, graph):
        return torch.zeros(graph.num_nodes(), 2)


class BadInput(nn.Module):
    out_dim = 5

    def forward(self, graph, pe):
        return pe  # 3 columns, not out_dim


class BadModuleEncoding(PositionalEncoding):
    dim = 3

    def compute(self, graph):
        return torch.zeros(graph.num_nodes(), 3)

    def input_module(self):
        return BadInput()


shapes = types.SimpleNamespace(
    wlkit_aggregators=hookimpl(lambda: [
        AggregatorRecord(name="wide_agg", factory=WideAggregator, summary="test"),
        AggregatorRecord(name="short_agg", factory=ShortAggregator, summary="test")]),
    wlkit_readouts=hookimpl(lambda: [
        ReadoutRecord(name="flat", factory=FlatReadout, summary="test")]),
    wlkit_layers=hookimpl(lambda: [
        LayerRecord(name="half", factory=HalfLayer, summary="test")]),
    wlkit_positional_encodings=hookimpl(lambda: [
        PositionalEncodingRecord(name="short_pe", factory=ShortEncoding, summary="test"),
        PositionalEncodingRecord(name="bad_module_pe", factory=BadModuleEncoding, summary="test")]),
)


@pytest.fixture
def with_shapes():
    with registered_plugin(shapes, "contracts-shapes"):
        yield


BREACHES = [
    ("aggregator: sum,", "aggregator: wide_agg,",
     "aggregator 'wide_agg' (from ", "aggregate_neighbours returned shape (10, 9), expected "
     "(10, 8)"),
    ("layer: gin, aggregator: sum,", "layer: gcn, aggregator: short_agg,",
     "aggregator 'short_agg' (from ", "reduce returned shape (22, 8), expected (10, 8)"),
    ("readout: sum", "readout: flat", "readout 'flat' (from ",
     "pool returned shape (8,), expected (2, 8)"),
    ("layer: gin,", "layer: half,", "layer 'half' (from ",
     "forward(graph, h, edge_feats) returned shape (10, 4), expected (10, 8)"),
    ("{name: rwse, steps: 4}", "short_pe", "positional_encoding 'short_pe' (from ",
     "compute returned shape (6, 2), expected (6, 3)"),
    ("{name: rwse, steps: 4}", "bad_module_pe", "positional_encoding 'bad_module_pe' (from ",
     "input_module()(graph, pe) returned shape (10, 3), expected (10, 5)"),
]


@pytest.mark.parametrize("old,new,who,what", BREACHES)
def test_validate_names_the_component_that_returns_the_wrong_shape(
        with_shapes, write_pipeline, capsys, old, new, who, what):
    assert old in TINY_PIPELINE
    path = write_pipeline(TINY_PIPELINE.replace(old, new))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 1 and "Traceback" not in err
    assert who in err and what in err, err
    assert "\n    hint: " in err


@pytest.mark.parametrize("old,new,who,what", BREACHES[:4])
def test_run_stops_before_loading_data(with_shapes, write_pipeline, tmp_path, monkeypatch,
                                       old, new, who, what):
    import wlkit.runner

    def no_data(*args, **kwargs):
        raise AssertionError("data was prepared")

    monkeypatch.setattr(wlkit.runner, "prepare", no_data)
    pipeline = load_pipeline(write_pipeline(TINY_PIPELINE.replace(old, new)))
    with pytest.raises(ComponentError, match=what.replace("(", r"\(").replace(")", r"\)")):
        run_pipeline(pipeline, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_the_error_names_the_distribution(with_shapes):
    from wlkit.manager import get_registry

    entry = get_registry().entry("aggregator", "wide_agg")
    agg = WideAggregator(4)  # built by hand: the label comes from the registry
    assert component_label(agg, "aggregator") == (
        component_where("aggregator", "wide_agg", entry.source, entry.version))
    g = dgl.graph(([0, 1], [1, 0]))
    with pytest.raises(ComponentError) as caught:
        agg.aggregate_neighbours(g, torch.zeros(2, 4))
    assert isinstance(caught.value, PluginError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"aggregator 'wide_agg' (from {entry.source}")


def test_an_unregistered_component_is_named_by_its_class():
    class Loose(Aggregator):
        def reduce(self, graph, messages):
            return messages

    assert component_label(Loose(2), "aggregator").startswith("aggregator "
                                                              "test_an_unregistered")


def test_wrong_input_width_names_the_component():
    from wlkit.plugins.aggregators import SumAggregator

    g = dgl.graph(([0, 1], [1, 0]))
    with pytest.raises(ComponentError, match=r"aggregator 'sum' \(from .*node features has "
                                             r"width 3, expected 4"):
        SumAggregator(4).aggregate_neighbours(g, torch.zeros(2, 3))


def test_trial_forward_keeps_the_random_state(write_pipeline):
    cfg = load_pipeline(write_pipeline(TINY_PIPELINE)).data
    dataset = instantiate_dataset(cfg["dataset"])
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    before = (torch.rand(1), random.random(), np.random.rand())
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    trial_forward(cfg, dataset)
    meta_parameter_count(cfg, dataset)
    assert (torch.rand(1), random.random(), np.random.rand()) == before


def test_non_strict_trial_ignores_what_the_generated_graphs_lack(write_pipeline):
    class NeedsMark(nn.Module):
        def __init__(self, dim, aggregator):
            super().__init__()

        def forward(self, graph, h, edge_feats=None):
            return h * graph.ndata["mark"]  # a field only the real data has

    plugin = types.SimpleNamespace(wlkit_layers=hookimpl(lambda: [LayerRecord(
        name="needs_mark", factory=NeedsMark, summary="test")]))
    with registered_plugin(plugin, "contracts-mark"):
        cfg = load_pipeline(write_pipeline(TINY_PIPELINE.replace("layer: gin",
                                                                 "layer: needs_mark"))).data
        dataset = instantiate_dataset(cfg["dataset"])
        trial_forward(cfg, dataset, strict=False)
        with pytest.raises(PluginError, match=r"trial forward pass .* failed: KeyError.*"
                                              r"\n    hint: .*example_graphs"):
            trial_forward(cfg, dataset)


def test_shipped_set_dataset_gives_example_graphs_with_its_mark():
    dataset = instantiate_dataset({"name": "set_second_min"})
    graphs = dataset.example_graphs()
    assert all("target" in g.ndata for g in graphs)


# --- did-you-mean ------------------------------------------------------------------------


def test_did_you_mean_ignores_case():
    assert did_you_mean("Lower", ["upper", "lower"]) == "lower"
    assert did_you_mean("GIN", ["gcn", "gin"]) == "gin"
    assert did_you_mean("Maen", ["sum", "mean"]) == "mean"
    assert did_you_mean("zzz", ["sum"]) is None
    assert choices_hint("Lower", ["upper", "lower"]).startswith("did you mean 'lower'?")


def test_choice_param_suggests_the_lower_case_spelling(write_pipeline, capsys):
    param = Param("mode", str, "lower", choices=("lower", "upper"))
    assert param.check("Lower")[1] == ("must be one of lower, upper; got 'Lower'; "
                                       "did you mean 'lower'?")
    path = write_pipeline(TINY_PIPELINE)
    assert main(["validate", str(path), "--set", "model.norm=Batch"]) == 2
    assert "did you mean 'batch'?" in capsys.readouterr().err


def test_component_name_suggestion_ignores_case(write_pipeline):
    with pytest.raises(PipelineError, match="did you mean 'gin'"):
        load_pipeline(write_pipeline(TINY_PIPELINE.replace("layer: gin", "layer: GIN")))


class _WrongBody(nn.Module):
    out_dim = 8

    def __init__(self, parts):
        super().__init__()
        self.linear = nn.Linear(1, 8)

    def forward(self, graph, batch):
        return self.linear(torch.ones(graph.batch_size, 1))[:, :5]


class WrongBodyPolicy(SubgraphPolicy):
    """Its model half returns 5 columns but declares out_dim 8."""

    def build(self, parts):
        return _WrongBody(parts)


def test_validate_names_the_policy_whose_model_half_has_the_wrong_width(write_pipeline,
                                                                         capsys):
    plugin = types.SimpleNamespace(wlkit_subgraph_policies=hookimpl(lambda: [
        SubgraphPolicyRecord(name="wrong_body", factory=WrongBodyPolicy, summary="test")]))
    with registered_plugin(plugin, "contracts-policy"):
        path = write_pipeline(TINY_PIPELINE + "policy: wrong_body\n")
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert "subgraph_policy 'wrong_body' (from " in err
        assert "its model half (build(parts)) returned shape (2, 5), expected (2, 8)" in err
        # without a prepare step the run tries it too, before any data loads
        with pytest.raises(ComponentError, match="wrong_body"):
            run_pipeline(load_pipeline(path), out=path.parent / "run", progress=False)


def test_every_count_of_built_modules_is_bounded():
    """A count parameter that decides how many modules a component builds (layers, heads,
    iterations) has a maximum, so `--set model.layer.mlp_layers=1000000000` is refused at
    validation instead of hanging the (meta-device) size check."""
    from wlkit.manager import get_registry

    counts = {"mlp_layers", "mlp_factor", "phi_layers", "rho_layers", "lstm_layers",
              "iterations", "heads", "layers", "inducing", "seeds"}
    registry = get_registry()
    unbounded = [f"{family} {entry.record.name}.{p.name}"
                 for family in ("aggregator", "readout", "layer", "positional_encoding",
                                "subgraph_policy")
                 for entry in registry.entries(family) for p in entry.record.params
                 if p.name in counts and p.type is int and p.maximum is None]
    assert not unbounded, unbounded


def test_huge_layer_count_is_refused_quickly(write_pipeline, capsys):
    path = write_pipeline(TINY_PIPELINE)
    assert main(["validate", str(path), "--set", "model.layer={name: gin, mlp_layers: "
                 "1000000000}"]) == 2
    err = capsys.readouterr().err
    assert "mlp_layers" in err and "<= 64" in err
