"""SPEN's exact oracle spen_h<k>: an upper bound of the model, <= 2-FWL, 1-WL on whole-graph
ego-nets, and the investigation's counts on CSL and BREC."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from wlkit import graphs
from wlkit.plugins.policies.spen import SpenPolicy
from wlkit.plugins.policies.spen_oracle import SpenOracle, spen_refinement
from wlkit.suites import load_suite
from wlkit.wl import distinguishes, oracle_cost, separated_pairs, separation_rounds


def _random_graph(n: int, p: float, rng: np.random.Generator) -> graphs.SimpleGraph:
    edges = [(u, v) for u, v in itertools.combinations(range(n), 2) if rng.random() < p]
    return graphs.SimpleGraph.from_edges(n, np.array(edges, dtype=np.int64).reshape(-1, 2))


def _suite_pairs(name: str, **kwargs) -> list[tuple[graphs.SimpleGraph, graphs.SimpleGraph]]:
    return [(p.first, p.second) for p in load_suite(name, **kwargs).pairs()]


def test_policy_names_its_oracle_for_every_setting():
    assert SpenPolicy(hops=2).wl_oracle == "spen_h2"
    # the oracle reads the mark and exact sizes, so it covers the other settings too
    assert SpenPolicy(hops=1, root_mark=False, size_bounds=[]).wl_oracle == "spen_h1"


def test_the_family_resolves_through_the_hook_and_declares_a_cost():
    g = graphs.cycle(6)
    # 6 nodes + 6 edges + six 1-hop ego-nets of 3 nodes (3^2 member pairs each)
    assert oracle_cost(g, "spen_h1") == 6 + 6 + 6 * 9
    assert SpenOracle(3).cost(g) == 6 + 6 + 6 * 36  # 3 hops: every ego-net is all of C6
    c6, two_c3 = graphs.classic_pairs()[0][2:]
    assert distinguishes(c6, two_c3, "spen_h1") and not distinguishes(c6, two_c3, "1-WL")


def test_history_refines_and_ends_in_the_final_colours():
    gs = [graphs.csl(41, 2), graphs.csl(41, 3)]
    colours, rounds, steps = spen_refinement(gs, 2, history=True)
    assert len(steps) == rounds + 1
    for got, last in zip(colours, steps[-1]):
        assert np.array_equal(got, last)
    _, rounds_cut = spen_refinement(gs, 2, max_rounds=1)
    assert rounds_cut == 1
    with pytest.raises(ValueError, match="hops"):
        spen_refinement(gs, 0)


def _model_separated(pairs, hops: int, **policy) -> list[bool]:
    """Untrained SPEN in float64 with wlkit separate's statistical test, pair by pair."""
    from wlkit.pipeline.loader import validate_pipeline
    from wlkit.tools.separate import SeparateSettings, Separator

    cfg = validate_pipeline({"name": "spen-sep", "dataset": "wl_pairs",
                             "policy": {"name": "spen", "hops": hops, **policy},
                             "model": {"hidden": 8, "num_layers": 2}}).data
    sep = Separator(cfg, 0, SeparateSettings(relabelings=12, output_dim=4, dtype="float64"))
    out = []
    for i, (g, h) in enumerate(pairs):
        pair = sep.decide(g, h, index=i)
        assert pair["reliable"], i
        out.append(pair["separated"])
    return out


@pytest.mark.parametrize("hops,policy", [
    (1, {}),
    # the same check for 2 hops and the other settings: slow (model runs), same code path
    pytest.param(2, {}, marks=pytest.mark.slow),
    pytest.param(1, {"root_mark": False, "size_bounds": []}, marks=pytest.mark.slow)])
def test_the_oracle_bounds_the_untrained_model(hops, policy):
    rng = np.random.default_rng(7)
    pairs = [(g, h) for _, _, g, h in graphs.classic_pairs()]
    # a CSL pair 1-WL cannot separate (SPEN can); random small pairs
    pairs.append((graphs.csl(13, 2), graphs.csl(13, 3)))
    pairs += [(_random_graph(7, 0.4, rng), _random_graph(7, 0.4, rng)) for _ in range(3)]
    oracle = separated_pairs(pairs, f"spen_h{hops}")
    model = _model_separated(pairs, hops, **policy)
    assert any(model)  # the test has teeth: the model separates some pairs
    violations = [i for i, (m, o) in enumerate(zip(model, oracle)) if m and not o]
    assert violations == []


def test_equals_1wl_when_every_ego_net_is_the_whole_graph():
    rng = np.random.default_rng(3)
    # diameter <= 2 with hops=2: every ego-net is the whole graph (SPEN is a 2-IGN there)
    pool = [_random_graph(8, 0.6, rng) for _ in range(12)]
    # sum |S_v|^2 == n^3 iff every 2-hop ego-net has all n nodes
    pool = [g for g in pool if SpenOracle(2).cost(g) - g.num_nodes - g.num_edges
            == g.num_nodes ** 3]
    pool += [graphs.shrikhande(), graphs.rook_graph(4)]  # 1-WL-equivalent, diameter 2
    pairs = list(itertools.combinations(pool, 2))
    assert len(pool) >= 6
    assert separated_pairs(pairs, "spen_h2").tolist() == separated_pairs(pairs, "1-WL").tolist()


@pytest.mark.parametrize("suite", ["classic", "csl", "sr", "regular", "cfi"])
def test_at_most_2fwl_on_the_generated_suites(suite):
    pairs = _suite_pairs(suite)
    fwl = separated_pairs(pairs, "2-FWL")
    for hops in (1, 2):
        spen = separated_pairs(pairs, f"spen_h{hops}")
        assert not (spen & ~fwl).any(), (suite, hops)


def test_csl_counts_of_the_investigation():
    pairs = _suite_pairs("csl")
    assert len(pairs) == 45
    assert int(separated_pairs(pairs, "spen_h1").sum()) == 9
    separated, rounds = separation_rounds(pairs, "spen_h2")
    assert int(separated.sum()) == 45 and int(rounds.max()) <= 1  # one layer suffices


@pytest.mark.slow  # about 16 s on 2 cores
def test_brec_basic_and_regular_counts_of_the_investigation():
    from tests.conftest import SHARED_DATA

    root = SHARED_DATA / "wl" / "BREC"
    if not (root / "basic.npy").is_file() or not (root / "regular.npy").is_file():
        pytest.skip(f"BREC basic/regular not found under {root}")
    suite = load_suite("brec", root=str(root))
    chosen = [p for p in suite.pairs() if p.category in ("Basic", "Regular")]
    pairs = [(p.first, p.second) for p in chosen]
    assert len(pairs) == 110
    assert int(separated_pairs(pairs, "spen_h1").sum()) == 110
    two = separated_pairs(pairs, "spen_h2")
    basic = sum(bool(s) for s, p in zip(two, chosen) if p.category == "Basic")
    assert (int(two.sum()), basic) == (45, 29)


def test_docstring_examples_run():
    import doctest

    import wlkit.plugins.policies.spen_oracle as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
