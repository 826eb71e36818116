"""``wlkit separate``: the BREC-style decision, its reliability control, the invariant-family
guard (GIN+sum never separates a 1-WL-equivalent pair), policies, and the command line."""

from __future__ import annotations

import json
import math
import os
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import SHARED_DATA
from wlkit import (
    MessagePassing,
    SubgraphPolicy,
    SubgraphPolicyRecord,
    hookimpl,
    node_offsets,
    registered_plugin,
)
from wlkit import graphs as G
from wlkit.cli import main
from wlkit.datasets.wl_suites import BRECSuite, ClassicSuite, CSLSuite, ExpSuite
from wlkit.pipeline.loader import validate_pipeline
from wlkit.tools.separate import (
    NODE_KEY,
    SeparateSettings,
    Separator,
    cast_floats,
    hotelling_t2,
    load_suite,
    run_separate,
    t2_threshold,
)

DATA = Path(os.environ.get("WLKIT_WL_DATA", SHARED_DATA / "wl"))
# Small and fast: R = 12 relabelings, 4 outputs (threshold 21.1), hidden 8, 2 layers.
FAST = {"relabelings": 12, "output_dim": 4, "batch_size": 128}


def pipeline(encodings=(), policy=None, **model):
    data = {"name": "t", "dataset": "wl_pairs", "encodings": list(encodings),
            "model": {"hidden": 8, "num_layers": 2, **model}}
    if policy is not None:
        data["policy"] = policy
    return validate_pipeline(data).data


def decide_all(cfg, pairs, label_width=0, **settings):
    sep = Separator(cfg, label_width, SeparateSettings(**{**FAST, **settings}))
    return sep, [sep.decide(p.first, p.second, i) for i, p in enumerate(pairs)]


def need(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"WL benchmark data not found at {path} (set WLKIT_WL_DATA)")
    return path


# ---------------------------------------------------------------------- the statistic
def test_threshold_matches_brec_and_follows_the_f_distribution():
    assert t2_threshold(16, 32) == pytest.approx(72.34, abs=0.005)
    assert t2_threshold(4, 12) == pytest.approx(21.1, abs=0.05)
    assert t2_threshold(16, 64) < t2_threshold(16, 32)
    with pytest.raises(Exception, match="must exceed the output dimension"):
        t2_threshold(16, 16)
    assert SeparateSettings(threshold=5.0).resolved_threshold() == 5.0


def test_hotelling_t2_properties():
    rng = np.random.default_rng(0)
    assert hotelling_t2(np.zeros((32, 16))) == 0.0
    noise = rng.normal(size=(32, 16))
    assert hotelling_t2(noise) < 5  # BREC's statistic of pure noise is O(q / R)
    shifted = noise + 3.0
    assert hotelling_t2(shifted) > 72.34  # 3 standard deviations in 16 coordinates
    # A difference identical in every relabeling has (numerically) zero covariance; the
    # floor turns the pseudo-inverse's arbitrary answer into a large, well-defined one.
    constant = np.tile(np.linspace(1, 2, 16), (32, 1))
    assert 1e6 < hotelling_t2(constant, floor=1e-3) < 1e9
    # ... and differences far below the floor never reach a threshold.
    assert hotelling_t2(rng.normal(scale=1e-8, size=(32, 16)) + 1e-8, floor=1e-5) < 1e-3


# ---------------------------------------------------------------------- node keys
def test_node_keys_map_relabelled_nodes_back():
    sep = Separator(pipeline(), 0, SeparateSettings(**FAST))
    g = G.decalin()
    perm = np.random.default_rng(1).permutation(g.num_nodes)
    (item,) = sep.inputs([g], [perm])
    d, _ = item
    key = d.ndata[NODE_KEY]
    assert key.dtype == torch.int64
    src, dst = d.edges()
    back = {tuple(sorted((int(key[u]), int(key[v])))) for u, v in zip(src, dst)}
    assert back == {tuple(e) for e in g.edges.tolist()}


# ---------------------------------------------------------------------- the guard
ONE_WL_SUITES = ["classic", "csl", "cfi", "sr", "dr", "4vtx", "regular"]


@pytest.mark.parametrize("name", ONE_WL_SUITES)
def test_gin_sum_never_separates_a_one_wl_equivalent_pair(name):
    """GIN with sum aggregation and readout is bounded by 1-WL: on pairs 1-WL cannot tell
    apart, a separation would be a bug in the model or in the test. The control (relabelings
    of one graph) must never fire for this deterministic model."""
    suite = load_suite(name)
    pairs = suite.pairs()[:8]
    one_wl = suite.oracle_labels(["1-WL"])["1-WL"]
    sep, results = decide_all(pipeline(), pairs, suite.label_width)
    assert sep.bound() == "1-WL"
    for pair, res, wl in zip(pairs, results, one_wl):
        assert res["reliable"] and res["control_t2"] < sep.threshold, pair.id
        assert not res["separated"] or wl, f"{pair.id}: T² {res['t2']} without 1-WL"


def test_gin_sum_trained_never_separates_one_wl_equivalent_pairs():
    pairs = ClassicSuite().pairs()[:3] + CSLSuite().pairs()[:2]
    sep, results = decide_all(pipeline(), pairs, trained=True, epochs=3, lr=1e-2)
    for pair, res in zip(pairs, results):
        assert res["training"]["epochs"] >= 1
        assert res["reliable"] and not res["separated"], (pair.id, res)


def _benchmark_pairs(name):
    folder = need({"exp": "EXP", "brec": "BREC"}[name])
    suite = ExpSuite(str(folder)) if name == "exp" else BRECSuite(str(folder))
    one_wl = suite.oracle_labels(["1-WL"])["1-WL"]
    pairs = suite.pairs()
    chosen = [0, 1, 2, len(pairs) - 2, len(pairs) - 1]  # BREC: basic and regular
    assert not one_wl[chosen].any()
    return suite, [pairs[i] for i in chosen]


@pytest.mark.parametrize("name", ["exp", "brec"])
def test_gin_sum_on_benchmark_files(name):
    suite, pairs = _benchmark_pairs(name)
    _, results = decide_all(pipeline(), pairs, suite.label_width)
    for pair, res in zip(pairs, results):
        assert res["reliable"] and not res["separated"], (pair.id, res)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["exp", "brec"])
def test_gin_sum_trained_on_benchmark_files(name):
    # test_gin_sum_trained_never_separates_one_wl_equivalent_pairs covers this quickly.
    suite, pairs = _benchmark_pairs(name)
    _, results = decide_all(pipeline(), pairs, suite.label_width, trained=True, epochs=4)
    for pair, res in zip(pairs, results):
        assert res["reliable"] and not res["separated"], (pair.id, res)


# ---------------------------------------------------------------------- the harness separates
def test_gin_rwse_separates_what_it_should():
    cfg = pipeline(encodings=[{"name": "rwse", "steps": 8}])
    sep, results = decide_all(cfg, ClassicSuite().pairs())
    assert sep.bound() is None  # encodings lift the 1-WL bound
    # C6 vs 2xC3 (triangles) and decalin vs bicyclopentyl (5-rings); SRGs and CFI(K4) have
    # equal RWSE on every node.
    assert [r["separated"] for r in results] == [True, True, False, False]
    assert all(r["reliable"] for r in results)


def test_gin_rwse_separates_csl_classes():
    pairs = CSLSuite().pairs()
    cfg = pipeline(encodings=[{"name": "rwse", "steps": 20}])
    chosen = [pairs[i] for i in (0, 8, 20, 44)]  # R=2/3, 2/16, 4/12, 13/16
    _, results = decide_all(cfg, chosen)
    assert all(r["separated"] and r["reliable"] for r in results), results


# ---------------------------------------------------------------------- policies and noise
class _Body(nn.Module):
    def __init__(self, parts, extra):
        super().__init__()
        self.node_input = parts.node_input
        self.stack = MessagePassing(parts)
        self.readout = parts.make_readout(parts.hidden)
        self.out_dim = self.readout.out_dim
        self.extra = extra
        self.weight = nn.Parameter(torch.randn(parts.hidden))

    def forward(self, graph, policy_batch):
        h = self.node_input(graph) + self.extra(self, graph, policy_batch)
        return self.readout(graph, self.stack(graph, h))


class TrianglePolicy(SubgraphPolicy):
    """prepare: triangles through each node (invariant); the model adds count * w."""

    def __init__(self, oracle: str | None = None):
        self.wl_oracle = oracle

    def prepare(self, graph):
        n = graph.num_nodes()
        a = torch.zeros(n, n)
        src, dst = graph.edges()
        a[src, dst] = 1.0
        return {"triangles": (a @ a @ a).diagonal() / 2}

    def collate(self, graphs, prepared):
        assert len(node_offsets(graphs)) == len(graphs)
        return torch.cat([p["triangles"] for p in prepared])

    def build(self, parts):
        return _Body(parts, lambda body, g, counts: counts[:, None] * body.weight)


class KeyedNoisePolicy(SubgraphPolicy):
    """Stochastic: fresh noise in training; in eval noise row = _node_key (the convention)."""

    def build(self, parts):
        def noise(body, g, _):
            if not body.training and NODE_KEY in g.ndata:
                gen = torch.Generator().manual_seed(0)
                table = torch.randn(1000, parts.hidden, generator=gen)
                return table[g.ndata[NODE_KEY]]
            return torch.randn(g.num_nodes(), parts.hidden)

        return _Body(parts, noise)


class DriftPolicy(SubgraphPolicy):
    """Broken on purpose: the output drifts with every forward call (stateful)."""

    def build(self, parts):
        calls = {"n": 0}

        def drift(body, g, _):
            calls["n"] += 1
            return torch.full((g.num_nodes(), parts.hidden), float(calls["n"]))

        return _Body(parts, drift)


_toys = types.SimpleNamespace(wlkit_subgraph_policies=hookimpl(lambda: [
    SubgraphPolicyRecord(name="toy_triangles", factory=TrianglePolicy, summary="toy",
                         expressivity=">1-WL", params=()),
    SubgraphPolicyRecord(name="toy_keyed_noise", factory=KeyedNoisePolicy, summary="toy",
                         stochastic=True, expressivity=">1-WL"),
    SubgraphPolicyRecord(name="toy_drift", factory=DriftPolicy, summary="toy",
                         permutation_invariant=False, expressivity="none"),
]))


@pytest.fixture
def toys():
    with registered_plugin(_toys, "toy-separate-policies"):
        yield


def test_policy_prepare_and_collate_run_on_relabelled_graphs(toys, tmp_path):
    pairs = ClassicSuite().pairs()
    _, results = decide_all(pipeline(policy="toy_triangles"), pairs)
    assert [r["separated"] for r in results] == [True, False, False, False]

    class Lying(TrianglePolicy):
        def __init__(self):
            super().__init__("1-WL")  # claims a 1-WL bound, but counts triangles

    with registered_plugin(types.SimpleNamespace(wlkit_subgraph_policies=hookimpl(lambda: [
            SubgraphPolicyRecord(name="toy_lying", factory=Lying, summary="toy")])), "lying"):
        result = run_separate(pipeline(policy="toy_lying"), "classic", out=tmp_path / "o",
                              settings=SeparateSettings(**FAST), progress=False)
    assert result["bound"] == "1-WL" and result["oracles"] == ["1-WL", "2-FWL"]
    assert result["violations"] == ["c6_vs_2c3"]


def test_policy_oracle_column(toys, tmp_path):
    with registered_plugin(types.SimpleNamespace(wlkit_subgraph_policies=hookimpl(lambda: [
            SubgraphPolicyRecord(name="toy_ego", factory=lambda: TrianglePolicy("ego1+"),
                                 summary="toy")])), "ego-toy"):
        result = run_separate(pipeline(policy="toy_ego"), "classic", out=tmp_path / "o",
                              settings=SeparateSettings(**FAST, limit=2), progress=False)
    assert result["oracles"] == ["1-WL", "2-FWL", "ego1+"]
    assert result["pairs"][0]["oracles"] == {"1-WL": False, "2-FWL": True, "ego1+": True}
    assert result["totals"]["cycles"]["oracles"]["ego1+"] == 1


def test_stochastic_model_with_keyed_noise_is_reliable(toys):
    pairs = ClassicSuite().pairs()[:2]
    sep, results = decide_all(pipeline(policy="toy_keyed_noise"), pairs)
    assert all(r["reliable"] and r["control_t2"] < 0.1 for r in results)
    assert all(r["separated"] for r in results)  # the fixed noise breaks the symmetry


def test_control_fires_for_a_drifting_model(toys):
    _, results = decide_all(pipeline(policy="toy_drift"), ClassicSuite().pairs()[:1],
                            batch_size=1000)
    (res,) = results
    assert not res["reliable"] and not res["separated"]
    assert res["control_t2"] > 1000


class TinyTrianglePolicy(TrianglePolicy):
    """Adds 1e-9 x (triangles through the node) to a constant: invisible in float32."""

    def build(self, parts):
        def tiny(body, g, counts):
            return 1.0 + 1e-9 * counts[:, None] * torch.ones_like(body.weight)

        return _Body(parts, tiny)


def test_float64_runs_model_and_inputs_in_float64():
    settings = SeparateSettings(**FAST, dtype="float64")
    c6, two_c3 = G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3))
    for encodings, expected in (((), False), ([{"name": "rwse", "steps": 4}], True)):
        cfg = pipeline(encodings=encodings)  # gine: edge inputs and encodings get cast too
        cfg["model"]["layer"] = {"name": "gine", "eps": 0.0, "learn_eps": True,
                                 "mlp_factor": 2}
        sep = Separator(cfg, 0, settings)
        assert sep.tol == 1e-13
        assert all(p.dtype == torch.float64 for p in sep.model.parameters())
        res = sep.decide(c6, two_c3, 0)  # 1-WL-equivalent: only rwse (triangles) separates
        assert res["reliable"] and res["separated"] == expected, (encodings, res)
    assert torch.get_default_dtype() == torch.float32  # restored after embedding
    with pytest.raises(Exception, match="unknown dtype"):
        Separator(cfg, 0, SeparateSettings(**FAST, dtype="float16"))


def test_float64_resolves_differences_below_the_float32_floor(toys):
    with registered_plugin(types.SimpleNamespace(wlkit_subgraph_policies=hookimpl(lambda: [
            SubgraphPolicyRecord(name="toy_tiny", factory=TinyTrianglePolicy, summary="toy",
                                 expressivity=">1-WL")])), "tiny"):
        pair = ClassicSuite().pairs()[0]  # C6 (no triangles) vs 2xC3 (one per node)
        (f32,) = decide_all(pipeline(policy="toy_tiny"), [pair])[1]
        (f64,) = decide_all(pipeline(policy="toy_tiny"), [pair], dtype="float64")[1]
    assert f32["reliable"] and not f32["separated"]
    assert f64["reliable"] and f64["separated"]


def _tiny_policy(oracle):
    return types.SimpleNamespace(wlkit_subgraph_policies=hookimpl(lambda: [
        SubgraphPolicyRecord(name="toy_tiny", factory=lambda: _TinyWith(oracle), summary="toy",
                             expressivity=">1-WL")]))


class _TinyWith(TinyTrianglePolicy):
    def __init__(self, oracle):
        super().__init__(oracle)


@pytest.mark.parametrize("oracle", ["ego1+", None])
def test_default_run_retests_missed_pairs_in_float64(tmp_path, oracle):
    """The default (float32 + automatic float64 re-test) separates what only float64 sees:
    the pair the oracle separates (or, without an oracle, every missed pair) is decided
    again in float64; switched off, float32's verdict stands."""
    with registered_plugin(_tiny_policy(oracle), "tiny"):
        result = run_separate(pipeline(policy="toy_tiny"), "classic", out=tmp_path / "a",
                              settings=SeparateSettings(**FAST, limit=2), progress=False)
        fixed = run_separate(pipeline(policy="toy_tiny"), "classic", out=tmp_path / "b",
                             settings=SeparateSettings(**FAST, limit=2, retest_float64=False),
                             progress=False)
    first, second = result["pairs"]  # C6 vs 2xC3 (triangles differ), decalin vs bicyclopentyl
    assert first["separated"] and first["precision"] == "float64"
    assert first["float64"]["separated"] and first["float64"]["reliable"]
    assert not second["separated"] and "precision" not in second
    retest = result["float64_retest"]
    assert retest["recovered"] == 1 and retest["reference"] == oracle
    # ego1+ does not separate decalin/bicyclopentyl: only the first pair is re-tested;
    # without an oracle every missed reliable pair is
    assert retest["pairs"] == (1 if oracle else 2)
    assert "float64" in second if oracle is None else "float64" not in second
    assert result["overall"]["float64"] == 1 and result["overall"]["separated"] == 1
    assert "reason" not in second and result["overall"]["reasons"] == {}
    assert fixed["float64_retest"] is None and fixed["overall"]["separated"] == 0
    if oracle is not None:  # without the re-test the oracle's pair is missing, unexplained
        assert fixed["pairs"][0]["reason"] == "unexplained"
    assert all("float64" not in row for row in fixed["pairs"])
    table = (tmp_path / "a" / "separation.json").read_text()
    assert '"precision": "float64"' in table


def test_no_retest_where_the_oracle_separates_nothing(tmp_path):
    """GIN is bounded by 1-WL, which separates no classic pair: nothing is re-tested."""
    result = run_separate(pipeline(), "classic", out=tmp_path / "o",
                          settings=SeparateSettings(**FAST), progress=False)
    assert result["reference_oracle"] == "1-WL"
    assert result["float64_retest"] == {"reference": "1-WL", "pairs": 0, "recovered": 0,
                                        "seconds": 0.0}
    assert "reasons" in result["overall"] and result["overall"]["reasons"] == {}


def test_trained_and_float64_runs_are_not_retested(tmp_path, toys):
    for extra in ({"dtype": "float64"}, {"trained": True, "epochs": 1}):
        result = run_separate(pipeline(), "classic", out=tmp_path / str(len(extra)),
                              settings=SeparateSettings(**FAST, limit=1, **extra),
                              progress=False)
        assert result["float64_retest"] is None


def test_reasons_of_missing_pairs():
    from wlkit.tools.separate import assign_reasons

    def row(t2, wide=None, reliable=True, oracle=True, separated=False):
        r = {"separated": separated, "reliable": reliable, "t2": t2,
             "oracles": {"node_marked": oracle}}
        if wide is not None:
            r["float64"] = wide
        return r

    rows = [row(1.0, {"t2": 50.0, "reliable": True}),   # grew with precision
            row(1.0, {"t2": 2.0, "reliable": True}),    # did not
            row(1.0, {"t2": 9e9, "reliable": False}),   # re-test control fired
            row(1.0, reliable=False),
            row(1.0, oracle=False),                     # the oracle does not separate it
            row(99.0, separated=True),
            {**row(1.0), "reason": "depth"}]            # set before: kept
    assign_reasons(rows, "node_marked")
    assert [r.get("reason") for r in rows] == ["precision", "unexplained", "unreliable",
                                               "unreliable", None, None, "depth"]


def test_cast_floats_reaches_nested_policy_batches():
    from wlkit.plugins.policies.node_marking import MarkedTuples

    g = G.cycle(3).to_dgl()
    g.ndata["x"], g.edata["w"] = torch.ones(3, 2), torch.ones(6)
    batch = {"a": [torch.zeros(2), (torch.arange(3),)], "g": g,
             "t": MarkedTuples(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1), 1)}
    out = cast_floats(batch, torch.float64)
    assert out["a"][0].dtype == torch.float64 and out["a"][1][0].dtype == torch.int64
    assert g.ndata["x"].dtype == torch.float64 and g.edata["w"].dtype == torch.float64
    assert out["t"].tuples.dtype == torch.long and out["t"].tuple_graph.dtype == torch.float64
    assert isinstance(out["t"], MarkedTuples) and out["t"].num_graphs == 1


def test_each_graph_is_embedded_once_and_pairs_do_not_depend_on_their_index():
    calls = []
    cfg = pipeline()
    sep = Separator(cfg, 0, SeparateSettings(**FAST))
    forward = sep.forward
    sep.forward = lambda items: calls.append(len(items)) or forward(items)
    c6, two_c3, two_c4 = (G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3)),
                          G.disjoint_union(G.cycle(4), G.complete(2)))
    first = sep.decide(c6, two_c4, 0)
    sep.decide(c6, two_c3, 1)
    # C6 embedded once (pair set + control set, one call each): 3 graphs, 6 calls
    assert len(calls) == 6 and len(sep._embedded) == 3
    again = Separator(cfg, 0, SeparateSettings(**FAST)).decide(c6, two_c4, 7)
    assert again == first


def test_edge_feature_layers_get_a_constant_edge_input():
    cfg = pipeline()  # gine needs a dataset with edge features to validate; suites have none
    cfg["model"]["layer"] = {"name": "gine", "eps": 0.0, "learn_eps": True, "mlp_factor": 2}
    sep = Separator(cfg, 0, SeparateSettings(**FAST))
    assert sep.edge_feat_dim == 1
    res = sep.decide(G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3)), 0)
    assert res["reliable"] and not res["separated"]


# ---------------------------------------------------------------------- the command line
SMALL = """\
name: small
dataset: wl_pairs
model: {layer: gin, aggregator: sum, num_layers: 2, hidden: 8, readout: sum}
"""


def run_cli(*args):
    return main(["separate", *map(str, args)])


def test_cli_writes_json_table_and_png(tmp_path, write_pipeline, capsys):
    path = write_pipeline(SMALL + "encodings: [{name: rwse, steps: 6}]\n")
    out = tmp_path / "sep"
    assert run_cli(path, "--suite", "classic", "--out", out, "--relabelings", 12,
                   "--output-dim", 4) == 0
    printed = capsys.readouterr().out
    assert "category" in printed and "total" in printed and "cycles" in printed
    result = json.loads((out / "separation.json").read_text())
    assert result["suite"] == "classic" and result["settings"]["relabelings"] == 12
    assert math.isclose(result["settings"]["threshold"], t2_threshold(4, 12))
    first = result["pairs"][0]
    assert set(first) == {"id", "category", "separated", "reliable", "t2", "control_t2",
                          "oracles"}
    assert first["oracles"] == {"1-WL": False, "2-FWL": True}
    assert result["totals"]["cycles"] == {"pairs": 1, "separated": 1, "unreliable": 0,
                                          "float64": 0, "reasons": {},
                                          "oracles": {"1-WL": 0, "2-FWL": 1}}
    # no exact oracle bounds GIN+RWSE: every pair float32 left unseparated was re-tested
    assert result["float64_retest"]["reference"] is None
    assert all("float64" in r for r in result["pairs"] if not r["separated"])
    assert result["overall"]["pairs"] == 4
    assert (out / "separation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --tol reaches the test: a rounding floor far above the outputs hides the difference
    assert run_cli(path, "--suite", "classic", "--out", tmp_path / "coarse", "--relabelings",
                   12, "--output-dim", 4, "--tol", 100, "--quiet") == 0
    coarse = json.loads((tmp_path / "coarse" / "separation.json").read_text())
    assert coarse["settings"]["tol"] == 100 and coarse["totals"]["cycles"]["separated"] == 0
    assert run_cli(path, "--suite", "classic", "--tol", 0) == 2
    assert "--tol must be > 0" in capsys.readouterr().err
    assert run_cli(path, "--suite", "classic", "--batch-size", 0) == 2
    assert "--batch-size must be >= 1" in capsys.readouterr().err
    # --float64: model and inputs in float64, the float64 rounding floor by default
    assert run_cli(path, "--suite", "classic", "--out", tmp_path / "f64", "--relabelings", 12,
                   "--output-dim", 4, "--float64", "--batch-size", 8, "--quiet") == 0
    f64 = json.loads((tmp_path / "f64" / "separation.json").read_text())
    assert f64["settings"]["dtype"] == "float64" and f64["settings"]["tol"] == 1e-13
    assert f64["settings"]["batch_size"] == 8
    assert [r["separated"] for r in f64["pairs"]] == [r["separated"] for r in result["pairs"]]
    # never over earlier results
    assert run_cli(path, "--suite", "classic", "--out", out) == 2
    assert "not empty" in capsys.readouterr().err


def test_cli_errors(tmp_path, write_pipeline, capsys, monkeypatch):
    path = write_pipeline(SMALL)
    assert run_cli(path, "--suite", "csk") == 2
    assert "did you mean 'csl'" in capsys.readouterr().err
    monkeypatch.delenv("WLKIT_WL_DATA", raising=False)
    assert run_cli(path, "--suite", "brec", "--out", tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert "--root" in err and "GraphPKU/BREC" in err and "Traceback" not in err
    assert run_cli(path, "--suite", "sr25", "--root", tmp_path, "--out", tmp_path / "b") == 2
    assert "sr251256.g6 not found" in capsys.readouterr().err
    assert run_cli(path, "--suite", "classic", "--root", tmp_path) == 2
    assert "drop --root" in capsys.readouterr().err
    assert run_cli(path, "--suite", "classic", "--relabelings", 8) == 2
    assert "must exceed the output dimension" in capsys.readouterr().err
    assert run_cli(path, "--suite", "classic", "--pairs", "cfi_k5", "--out", tmp_path / "c") == 2
    assert "no pair 'cfi_k5'" in capsys.readouterr().err


def test_cli_pairs_selects_pairs_by_id(tmp_path, write_pipeline):
    path = write_pipeline(SMALL + "encodings: [{name: rwse, steps: 6}]\n")
    assert run_cli(path, "--suite", "classic", "--out", tmp_path / "p", "--relabelings", 12,
                   "--output-dim", 4, "--pairs", "cfi_k4, c6_vs_2c3", "--quiet") == 0
    result = json.loads((tmp_path / "p" / "separation.json").read_text())
    assert [r["id"] for r in result["pairs"]] == ["c6_vs_2c3", "cfi_k4"]  # suite order
    assert [r["separated"] for r in result["pairs"]] == [True, False]
    assert [r["oracles"]["2-FWL"] for r in result["pairs"]] == [True, False]


def test_docstring_examples():
    import doctest

    import wlkit.tools.separate

    result = doctest.testmod(wlkit.tools.separate, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_forward_chunks_respect_both_bounds():
    from wlkit.tools.separate import forward_chunks, item_elements

    g = G.cycle(3).to_dgl()
    assert (g.num_nodes(), g.num_edges()) == (3, 6)  # both directions
    items = [(g, {"pairs": torch.zeros(k, dtype=torch.long)}) for k in (4, 4, 100, 4, 4, 4)]
    assert [item_elements(it) for it in items] == [13, 13, 109, 13, 13, 13]
    sizes = lambda chunks: [[item_elements(it) for it in c] for c in chunks]  # noqa: E731
    assert sizes(forward_chunks(items, 96, 30)) == [[13, 13], [109], [13, 13], [13]]
    assert sizes(forward_chunks(items, 2, None)) == [[13, 13], [109, 13], [13, 13]]
    assert sizes(forward_chunks(items, 96, None)) == [[13, 13, 109, 13, 13, 13]]
    assert list(forward_chunks([], 96, 30)) == []


def test_element_bound_leaves_embeddings_unchanged():
    # SPEN's 3-hop ego-nets of a 12-cycle: 49 pairs x 12 subgraphs per copy, so a bound of
    # 1,000 elements runs each copy alone while the unbounded run batches all 12.
    cfg = pipeline(policy={"name": "spen", "hops": 3})
    graph = G.cycle(12)
    perms = [np.random.default_rng(i).permutation(12) for i in range(12)]
    outs = []
    for bound in (None, 1000):
        sep = Separator(cfg, 0, SeparateSettings(**FAST, batch_elements=bound))
        outs.append(sep.embed_relabelings(graph, perms))
    assert np.allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    assert np.abs(outs[0]).max() > 0


def test_element_bound_never_splits_a_training_step():
    # BatchNorm in training normalises over one forward: a regular graph alone has equal
    # node states, so a split step would learn nothing for C6 vs K6 (the reviewer's case)
    calls = []
    cfg = pipeline()
    sep = Separator(cfg, 0, SeparateSettings(**FAST, trained=True, epochs=1,
                                             batch_elements=1))
    forward = sep.forward

    def spy(items, bounded=True):
        calls.append((len(items), bounded))
        return forward(items, bounded)

    sep.forward = spy
    sep.decide(G.cycle(6), G.complete(6), 0)
    trained = [c for c in calls if not c[1]]
    assert trained and all(n > 1 for n, _ in trained)
