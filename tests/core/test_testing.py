"""The conformance kit (wlkit.testing): graphs, probes, every assertion catching a broken
component, and the pytest plugin working from a plugin's own test suite (a subprocess)."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dgl
import pytest
import torch
from torch import nn

from tests.conftest import ROOT
from wlkit import (
    Aggregator,
    AggregatorRecord,
    MessagePassing,
    Param,
    Readout,
    SubgraphPolicy,
    node_offsets,
)
from wlkit.plugins.aggregators import SumAggregator
from wlkit.plugins.readouts import SegmentReadout
from wlkit.testing import (
    NODE_KEY,
    ComponentRefused,
    aggregator_probe,
    assert_batch_independent,
    assert_deterministic,
    assert_device_placement,
    assert_gradient_flow,
    assert_output_contract,
    assert_permutation_equivariant,
    assert_permutation_invariant,
    assert_record,
    assert_state_dict_roundtrip,
    encoding_probe,
    graph_zoo,
    layer_probe,
    policy_probe,
    probe_for,
    random_graph,
    readout_probe,
    relabel,
    usable_graphs,
)

SMALL = {k: v for k, v in graph_zoo().items() if k not in ("random_large",)}


# --- graphs -------------------------------------------------------------------------------


def test_zoo_has_the_edge_cases():
    zoo = graph_zoo()
    assert zoo["single_node"].num_nodes() == 1 and zoo["single_node"].num_edges() == 0
    assert zoo["no_edges"].num_edges() == 0
    iso = zoo["isolated_nodes"]
    assert ((iso.in_degrees() == 0) & (iso.out_degrees() == 0)).sum() >= 3
    empty = zoo["empty_neighbourhoods"]
    assert ((empty.in_degrees() == 0) & (empty.out_degrees() > 0)).sum() >= 4
    src, dst = zoo["multigraph"].edges()
    pairs = list(zip(src.tolist(), dst.tolist()))
    assert len(set(pairs)) < len(pairs) and any(u == v for u, v in pairs)
    g = zoo["random"]
    s, d = g.edges()
    assert sorted(zip(s.tolist(), d.tolist())) == sorted(zip(d.tolist(), s.tolist()))
    assert graph_zoo()["random"].edges()[0].tolist() == s.tolist()  # deterministic


def test_random_graph_is_simple_and_seeded():
    g = random_graph(8, 10, seed=3, bidirected=False)
    pairs = set(zip(*(t.tolist() for t in g.edges())))
    assert len(pairs) == 10 and all(u != v for u, v in pairs)
    with pytest.raises(ValueError, match="do not fit"):
        random_graph(3, 4)


def test_relabel_moves_features_and_keys():
    g = random_graph(6, 7, seed=1)
    g.ndata["x"] = torch.arange(6.0)
    g.edata["w"] = torch.arange(float(g.num_edges()))
    new, perm = relabel(g, seed=5)
    assert torch.equal(new.ndata["x"][perm], g.ndata["x"])
    assert torch.equal(new.ndata[NODE_KEY][perm], torch.arange(6))
    old_edges = {(int(u), int(v), float(w)) for u, v, w in zip(*g.edges(), g.edata["w"])}
    new_edges = {(int(u), int(v), float(w)) for u, v, w in zip(*new.edges(), new.edata["w"])}
    assert {(int(perm[u]), int(perm[v]), w) for u, v, w in old_edges} == new_edges


# --- components that break one rule each ----------------------------------------------------


class EdgeOrderAggregator(Aggregator):
    """Weights messages by their edge id: not invariant."""

    def reduce(self, graph, messages):
        weights = torch.arange(1, len(messages) + 1, dtype=messages.dtype).unsqueeze(-1)
        return dgl.ops.copy_e_sum(graph, messages * weights / len(messages))


class BatchMeanReadout(Readout):
    """Subtracts the mean over the whole batch: depends on the other graphs."""

    def pool(self, graph, feats):
        return dgl.ops.segment_reduce(graph.batch_num_nodes(), feats - feats.mean(0), "sum")


class DetachedReadout(Readout):
    def __init__(self, dim):
        super().__init__(dim)
        self.linear = nn.Linear(dim, dim)

    def pool(self, graph, feats):
        return dgl.ops.segment_reduce(graph.batch_num_nodes(), self.linear(feats), "sum").detach()


class WrongWidthReadout(Readout):
    def pool(self, graph, feats):
        return dgl.ops.segment_reduce(graph.batch_num_nodes(), feats[:, :1], "sum")


class HiddenStateReadout(Readout):
    """Keeps a random scale outside its state_dict."""

    def __init__(self, dim):
        super().__init__(dim)
        self.linear = nn.Linear(dim, dim)
        self.scale = float(torch.rand(()))

    def pool(self, graph, feats):
        return dgl.ops.segment_reduce(graph.batch_num_nodes(), self.linear(feats) * self.scale,
                                      "sum")


class NoisyAggregator(Aggregator):
    """Adds noise; ``keyed`` draws it from ``ndata['_node_key']`` in eval mode."""

    def __init__(self, dim, keyed=True):
        super().__init__(dim)
        self.keyed = keyed

    def reduce(self, graph, messages):
        out = dgl.ops.copy_e_sum(graph, messages)
        if self.training or not self.keyed or NODE_KEY not in graph.ndata:
            return out + torch.randn_like(out)
        table = torch.randn(1000, self.dim, generator=torch.Generator().manual_seed(0))
        return out + table[graph.ndata[NODE_KEY]]


class Refuser(Aggregator):
    def reduce(self, graph, messages):
        from wlkit import WlkitError

        if graph.num_nodes() < 10:
            raise WlkitError("needs at least 10 nodes")
        return dgl.ops.copy_e_sum(graph, messages)


def test_correct_components_pass_every_assertion():
    for probe in (aggregator_probe(SumAggregator), readout_probe(SegmentReadout, op="mean")):
        assert_permutation_invariant(probe, SMALL)
        assert_batch_independent(probe, SMALL)
        assert_deterministic(probe, SMALL)
        assert_gradient_flow(probe, SMALL)
        assert_output_contract(probe, SMALL, float64=True)
        assert_state_dict_roundtrip(probe, SMALL)
        assert_device_placement(probe, SMALL, device="cpu")


def test_non_invariant_aggregator_is_caught():
    probe = aggregator_probe(EdgeOrderAggregator)
    with pytest.raises(AssertionError, match="(?s)not permutation equivariant.*graph 'random'"):
        assert_permutation_equivariant(probe, SMALL)


def test_batch_dependent_readout_is_caught():
    with pytest.raises(AssertionError, match="depend on the rest of the batch"):
        assert_batch_independent(readout_probe(BatchMeanReadout), SMALL)


def test_detached_output_is_caught():
    with pytest.raises(AssertionError, match="does not require grad"):
        assert_gradient_flow(readout_probe(DetachedReadout), SMALL)


def test_wrong_width_is_caught():
    with pytest.raises(AssertionError, match="width 1, but out_dim is 8"):
        assert_output_contract(readout_probe(WrongWidthReadout), SMALL)


def test_state_outside_the_state_dict_is_caught():
    with pytest.raises(AssertionError, match="outputs differ"):
        assert_state_dict_roundtrip(readout_probe(HiddenStateReadout), SMALL)


def test_noise_keyed_by_node_passes_and_unkeyed_noise_fails():
    keyed = aggregator_probe(NoisyAggregator, stochastic=True)
    assert_permutation_invariant(keyed, SMALL)
    assert_deterministic(keyed, SMALL)
    unkeyed = aggregator_probe(NoisyAggregator, stochastic=True, keyed=False)
    with pytest.raises(AssertionError, match="not permutation"):
        assert_permutation_invariant(unkeyed, SMALL)
    with pytest.raises(AssertionError, match="(?s)eval mode: repeated calls differ.*_node_key"):
        assert_deterministic(unkeyed, SMALL)


def test_refused_graphs_are_set_aside():
    probe = aggregator_probe(Refuser)
    usable, refused = usable_graphs(probe)
    assert set(usable) == {"random", "random_large", "isolated_nodes", "empty_neighbourhoods"}
    assert refused["single_node"] == "needs at least 10 nodes"
    with pytest.raises(ComponentRefused, match="refuses every graph"):
        usable_graphs(probe, {"tiny": graph_zoo()["single_node"]})


def test_probes_of_every_family():
    from wlkit.plugins.encodings import RandomWalkSE
    from wlkit.plugins.layers import GINLayer

    layer = layer_probe(GINLayer, mlp_layers=1)
    assert layer.level == "node" and layer.out_dim == 8
    assert_permutation_equivariant(layer, SMALL)
    encoding = encoding_probe(RandomWalkSE, steps=3)
    assert encoding.module is None and encoding.out_dim == 3
    assert_permutation_equivariant(encoding, SMALL)
    readout = probe_for("readout", "sum")
    assert readout.level == "graph" and readout.name == "sum"
    with pytest.raises(Exception, match="steps"):
        probe_for("positional_encoding", "rwse", {"steps": 0})


class MarkFirstMaxDegree(SubgraphPolicy):
    """The toy policy of tests/core/test_policy_api.py: marks the *first* node of largest
    degree, a tie-break by node index, so it is not invariant on symmetric graphs."""

    def prepare(self, graph):
        return {"root": graph.in_degrees().argmax().view(1)}

    def collate(self, graphs, prepared):
        return torch.cat([p["root"] for p in prepared]) + node_offsets(graphs)

    def build(self, parts):
        return _MarkBody(parts)


class _MarkBody(nn.Module):
    def __init__(self, parts):
        super().__init__()
        self.node_input = parts.node_input
        self.mark = nn.Parameter(torch.randn(parts.hidden))
        self.stack = MessagePassing(parts)
        self.readout = parts.make_readout(parts.hidden)
        self.out_dim = self.readout.out_dim

    def forward(self, graph, roots):
        h = self.node_input(graph)
        mark = torch.zeros(graph.num_nodes(), 1)
        mark[roots] = 1.0
        return self.readout(graph, self.stack(graph, h + mark * self.mark))


def test_policy_probe_runs_prepare_and_collate_and_catches_tie_breaks():
    probe = policy_probe(MarkFirstMaxDegree)
    assert probe.level == "graph" and probe.used_layers == 3
    assert_batch_independent(probe, SMALL)
    assert_gradient_flow(probe, SMALL)
    with pytest.raises(AssertionError, match="not permutation invariant"):
        assert_permutation_invariant(probe, SMALL)


def test_record_checks():
    assert_record(AggregatorRecord(name="fine", factory=SumAggregator, summary="Fine."))
    bad = AggregatorRecord(name="Bad Name", factory=SumAggregator, summary="two\nlines",
                           params=(Param("k", int, -1, "", minimum=0),))
    with pytest.raises(AssertionError) as info:
        assert_record(bad)
    message = str(info.value)
    for part in ("must be lower case", "summary must be one", "param 'k' has no doc",
                 "its default -1 must be >= 0", "does not accept the parameter(s) k"):
        assert part in message


def test_docstring_examples():
    import doctest

    import wlkit.testing.assertions
    import wlkit.testing.probes

    attempted = 0
    for module in (wlkit.testing.probes, wlkit.testing.assertions):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted > 0


# --- the pytest plugin --------------------------------------------------------------------


def test_setup_cfg_registers_the_pytest_plugin():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    entry_points = config["options.entry_points"]["pytest11"]
    assert "wlkit = wlkit.testing.fixtures" in entry_points


PLUGIN_SUITE = '''
import sys
import types

import dgl
import pytest
import torch

import wlkit.manager
from wlkit import Aggregator, AggregatorRecord, hookimpl
from wlkit.testing import aggregator_probe, assert_permutation_invariant, probe_for


def test_importing_the_kit_did_no_work():
    assert wlkit.manager._HOST is None  # no plugin discovery at import
    assert "lightning" not in sys.modules


class Twice(Aggregator):
    def reduce(self, graph, messages):
        return 2 * dgl.ops.copy_e_sum(graph, messages)


class ByEdgeId(Aggregator):
    def reduce(self, graph, messages):
        w = torch.arange(len(messages), dtype=messages.dtype).unsqueeze(-1)
        return dgl.ops.copy_e_sum(graph, messages * w)


PLUGIN = types.SimpleNamespace(wlkit_aggregators=hookimpl(lambda: [
    AggregatorRecord(name="twice", factory=Twice, summary="Twice the sum.")]))


def test_register_for_one_test(wlkit_register):
    registry = wlkit_register(PLUGIN, "my-plugin")
    assert ("aggregator", "twice") in registry
    assert_permutation_invariant(probe_for("aggregator", "twice"))


def test_registration_was_removed(wlkit_registry):
    assert ("aggregator", "twice") not in wlkit_registry


def test_graph_fixtures(wlkit_graphs, wlkit_batch):
    assert wlkit_graphs["single_node"].num_nodes() == 1
    assert len(wlkit_batch) == len(wlkit_graphs)
    assert_permutation_invariant(aggregator_probe(Twice), wlkit_graphs)


def test_the_kit_catches_a_broken_aggregator(wlkit_graphs):
    with pytest.raises(AssertionError, match="not permutation equivariant"):
        assert_permutation_invariant(aggregator_probe(ByEdgeId), wlkit_graphs)


def test_devices(wlkit_device):
    assert wlkit_device in ("cpu", "cuda")
'''


def _pytest11_installed(cwd: Path, env: dict[str, str]) -> bool:
    """Whether a Python started in ``cwd`` sees wlkit's pytest11 entry point (asked in a
    subprocess: this process may see other metadata, e.g. a build's wlkit.egg-info)."""
    code = ("import importlib.metadata as m; print(any(ep.value == 'wlkit.testing.fixtures' "
            "for ep in m.entry_points(group='pytest11')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
    return proc.stdout.strip() == "True"


def test_pytest_plugin_works_in_a_plugins_own_test_suite(tmp_path):
    suite = tmp_path / "my-plugin"
    (suite / "tests").mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "tests" / "test_mine.py").write_text(textwrap.dedent(PLUGIN_SUITE))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "WLKIT_")) or k == "WLKIT_CACHE_DIR"}
    path = []
    if not _pytest11_installed(suite, env):
        # wlkit's installed metadata predates the pytest11 entry point (setup.cfg changed
        # since `pip install -e .`): provide the same entry point as a stand-in dist-info.
        shim = tmp_path / "shim" / "wlkit_pytest_shim-0.0.dist-info"
        shim.mkdir(parents=True)
        (shim / "METADATA").write_text("Metadata-Version: 2.1\nName: wlkit-pytest-shim\n"
                                       "Version: 0.0\n")
        (shim / "entry_points.txt").write_text("[pytest11]\nwlkit = wlkit.testing.fixtures\n")
        path.append(str(shim.parent))
    env["PYTHONPATH"] = os.pathsep.join(path + [env.get("PYTHONPATH", "")]).strip(os.pathsep)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-rA", "tests"], cwd=suite, env=env, capture_output=True, text=True,
                          timeout=300)
    report = f"{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0, report
    devices = 2 if "cuda" in __import__("wlkit.testing").testing.available_devices() else 1
    assert f"{5 + devices} passed" in proc.stdout, report


def test_pytest_plugin_imports_neither_torch_nor_dgl():
    """pytest imports the pytest11 entry point in every run of every project in the
    environment: it must not pay for torch, DGL or `outdated`'s network check."""
    code = ("import sys, threading, wlkit.testing.fixtures, wlkit; "
            "heavy = [m for m in ('torch', 'dgl', 'lightning', 'ogb') if m in sys.modules]; "
            "assert not heavy, heavy; assert threading.active_count() == 1")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_outdated_checks_never_start(tmp_path):
    """ogb (imported by DGL) and `outdated` itself start PyPI checks in non-daemon threads;
    after `import wlkit` none is left running (each made every start ~2 s slower here)."""
    code = ("import threading, wlkit, dgl, outdated; "
            "checks = [t for t in threading.enumerate() if t is not threading.main_thread()]; "
            "assert not checks, checks; "
            "assert outdated.check_outdated('ogb', '1.3.6') == (False, '1.3.6')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=tmp_path)
