"""Every validation error path names the file, the line, the YAML path and a hint."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from wlkit import PipelineError, WlkitError
from wlkit.pipeline import load_pipeline
from wlkit.pipeline.loader import validate_pipeline

GOOD = """\
name: demo
dataset: {name: csl, fold: 1}
encodings: [{name: rwse, steps: 8}]
model:
  layer: gin
  aggregator: sum
  num_layers: 2
  hidden: 16
  readout: mean
train: {epochs: 3, batch_size: 16, lr: 0.01}
seeds: 2
"""


def problems(write_pipeline, text: str, overrides=()):
    path = write_pipeline(textwrap.dedent(text))
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, overrides)
    for problem in info.value.problems:
        assert problem.file in (str(path),) or problem.file.startswith("--set")
    return info.value.problems


def only(write_pipeline, text: str, overrides=()):
    found = problems(write_pipeline, text, overrides)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_good_pipeline_resolves_every_default(write_pipeline):
    pipeline = load_pipeline(write_pipeline(GOOD))
    data = pipeline.data
    assert data["dataset"] == {"name": "csl", "fold": 1, "num_nodes": 41, "relabelings": 15,
                               "seed": 0}
    assert data["model"]["layer"] == {"name": "gin", "eps": 0.0, "learn_eps": False,
                                      "mlp_layers": 2, "activation": "relu"}
    assert data["model"]["aggregator"] == {"name": "sum"}
    assert data["encodings"] == [{"name": "rwse", "steps": 8}]
    assert data["policy"] is None
    assert data["seeds"] == [0, 1]
    assert data["train"]["optimizer"] == "adam"


def test_resolved_pipeline_is_a_fixed_point(write_pipeline):
    first = load_pipeline(write_pipeline(GOOD))
    again = load_pipeline(write_pipeline(first.dump(), "resolved.yaml"))
    assert again.data == first.data


def test_malformed_yaml_names_the_line(write_pipeline):
    p = only(write_pipeline, "name: x\nmodel: {hidden: 3\ntrain: {}\n")
    assert "not valid YAML" in p.message and p.line == 3


def test_empty_file(write_pipeline):
    assert "empty" in only(write_pipeline, "\n").message


def test_top_level_must_be_a_mapping(write_pipeline):
    p = only(write_pipeline, "- a\n- b\n")
    assert "mapping" in p.message and p.line == 1


def test_unknown_section_suggests_the_closest(write_pipeline):
    p = only(write_pipeline, GOOD + "trian: {}\n")
    assert p.path == "trian" and p.line == 12 and "did you mean 'train'" in p.hint


def test_unknown_key_in_section(write_pipeline):
    p = only(write_pipeline, GOOD.replace("  hidden: 16", "  hiden: 16"))
    assert p.path == "model.hiden" and p.line == 8 and "did you mean 'hidden'" in p.hint


def test_wrong_type(write_pipeline):
    p = only(write_pipeline, GOOD.replace("hidden: 16", "hidden: wide"))
    assert p.path == "model.hidden" and p.line == 8 and "integer" in p.message


def test_bool_is_not_an_int(write_pipeline):
    p = only(write_pipeline, GOOD.replace("num_layers: 2", "num_layers: true"))
    assert p.path == "model.num_layers" and p.line == 7


def test_out_of_range(write_pipeline):
    p = only(write_pipeline, GOOD.replace("fold: 1", "fold: 7"))
    assert p.path == "dataset.fold" and p.line == 2 and "<= 4" in p.message


def test_choice_violation(write_pipeline):
    p = only(write_pipeline, GOOD.replace("lr: 0.01}", "lr: 0.01, optimizer: adan}"))
    assert p.path == "train.optimizer" and p.line == 10 and "adam" in p.message


def test_unknown_component_name_did_you_mean(write_pipeline):
    p = only(write_pipeline, GOOD.replace("aggregator: sum", "aggregator: summ"))
    assert p.path == "model.aggregator" and p.line == 6
    assert "unknown aggregator 'summ'" in p.message
    assert "did you mean 'sum'" in p.hint and "max" in p.hint and "mean" in p.hint


def test_unknown_dataset_in_mapping_points_at_name(write_pipeline):
    p = only(write_pipeline, GOOD.replace("{name: csl, fold: 1}", "{name: cls, fold: 1}"))
    assert p.path == "dataset.name" and p.line == 2 and "did you mean 'csl'" in p.hint


def test_component_mapping_without_name(write_pipeline):
    p = only(write_pipeline, GOOD.replace("[{name: rwse, steps: 8}]", "[{steps: 8}]"))
    assert p.path == "encodings[0]" and p.line == 3 and "rwse" in p.hint


def test_unknown_component_parameter(write_pipeline):
    p = only(write_pipeline, GOOD.replace("steps: 8", "step: 8"))
    assert p.path == "encodings[0].step" and p.line == 3 and "steps" in p.hint


def test_component_parameter_type(write_pipeline):
    p = only(write_pipeline, GOOD.replace("steps: 8", "steps: 1.5"))
    assert p.path == "encodings[0].steps" and "integer" in p.message


def test_component_of_wrong_shape(write_pipeline):
    p = only(write_pipeline, GOOD.replace("readout: mean", "readout: [mean]"))
    assert p.path == "model.readout" and p.line == 9 and "sum" in p.hint


def test_missing_name_and_dataset(write_pipeline):
    found = problems(write_pipeline, "model: {hidden: 8}\n")
    paths = {p.path for p in found}
    assert {"name", "dataset"} <= paths
    assert any("csl" in (p.hint or "") for p in found if p.path == "dataset")


def test_several_problems_are_reported_together(write_pipeline):
    text = GOOD.replace("hidden: 16", "hidden: -1").replace("seeds: 2", "seeds: 0")
    found = problems(write_pipeline, text)
    assert [p.path for p in found] == ["model.hidden", "seeds"]
    assert [p.line for p in found] == [8, 11]


@pytest.mark.parametrize("value", ["[]", "[1, 1]", "x", "[0, a]"])
def test_bad_seeds(write_pipeline, value):
    p = only(write_pipeline, GOOD.replace("seeds: 2", f"seeds: {value}"))
    assert p.path == "seeds" and p.line == 11


def test_seeds_list_kept(write_pipeline):
    assert load_pipeline(write_pipeline(GOOD.replace("seeds: 2", "seeds: [3, 7]"))).data[
        "seeds"] == [3, 7]


def test_duplicate_key(write_pipeline):
    p = only(write_pipeline, GOOD + "seeds: 3\n")
    assert "duplicate key 'seeds'" in p.message and p.line == 12 and "line 11" in p.message


def test_trainer_unknown_and_reserved_keys(write_pipeline):
    found = problems(write_pipeline, GOOD + "trainer: {acelerator: cpu, max_epochs: 3}\n")
    by_path = {p.path: p for p in found}
    assert "did you mean 'accelerator'" in by_path["trainer.acelerator"].hint
    assert "train.epochs" in by_path["trainer.max_epochs"].hint
    assert all(p.line == 12 for p in found)


def test_trainer_bad_value_is_caught_before_training(write_pipeline):
    p = only(write_pipeline, GOOD + "trainer: {accelerator: quantum}\n")
    assert p.path == "trainer" and "quantum" in p.message


def test_loss_that_does_not_fit_the_task(write_pipeline):
    p = only(write_pipeline, GOOD.replace("lr: 0.01}", "lr: 0.01, loss: mse}"))
    assert p.path == "train.loss" and "multiclass" in p.message and "cross_entropy" in p.hint


def test_output_section(write_pipeline):
    p = only(write_pipeline, GOOD + "output: {directory: x}\n")
    assert p.path == "output.directory" and "did you mean 'dir'" in p.hint


# --- overrides -------------------------------------------------------------------------


def test_overrides_parse_yaml_scalars(write_pipeline):
    pipeline = load_pipeline(write_pipeline(GOOD), ["model.hidden=32", "train.lr=1e-2",
                                                    "model.residual=true", "seeds=[5]"])
    assert pipeline.data["model"]["hidden"] == 32
    assert pipeline.data["train"]["lr"] == 0.01
    assert pipeline.data["model"]["residual"] is True
    assert pipeline.data["seeds"] == [5]


def test_override_descends_into_a_named_component(write_pipeline):
    pipeline = load_pipeline(write_pipeline(GOOD), ["model.layer.eps=0.5",
                                                    "encodings.0.steps=4"])
    assert pipeline.data["model"]["layer"]["eps"] == 0.5
    assert pipeline.data["encodings"][0]["steps"] == 4


def test_bad_override_names_the_override(write_pipeline):
    p = only(write_pipeline, GOOD, ["model.hidden=abc"])
    assert p.file == "--set model.hidden=abc" and p.path == "model.hidden"


def test_unparseable_override(write_pipeline):
    with pytest.raises(PipelineError, match="cannot parse override"):
        load_pipeline(write_pipeline(GOOD), ["model.hidden"])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(WlkitError, match="no such pipeline file"):
        load_pipeline(tmp_path / "nope.yaml")


def test_safe_loader_refuses_python_tags(write_pipeline):
    p = only(write_pipeline, GOOD + "description: !!python/object/apply:os.system [echo hi]\n")
    assert "not valid YAML" in p.message


def test_validate_from_a_mapping():
    data = yaml.safe_load(GOOD)
    assert validate_pipeline(data).data["name"] == "demo"
    with pytest.raises(PipelineError) as info:
        validate_pipeline({**data, "model": {"layer": "gni"}})
    assert info.value.problems[0].hint.startswith("did you mean 'gin'")


def test_layer_needing_edge_features_on_a_dataset_without_them(write_pipeline):
    p = only(write_pipeline, GOOD.replace("layer: gin", "layer: gine"))
    assert p.path == "model.layer" and p.line == 5 and "edge features" in p.message


def test_policy_needing_edge_features_on_a_dataset_without_them(write_pipeline):
    import types

    from wlkit import SubgraphPolicy, SubgraphPolicyRecord, hookimpl, registered_plugin

    def record(name, needs):
        return SubgraphPolicyRecord(name=name, factory=SubgraphPolicy, summary="toy",
                                    expressivity=">1-WL", needs_edge_features=needs)

    plugin = types.SimpleNamespace(wlkit_subgraph_policies=hookimpl(
        lambda: [record("bond_walks", True), record("no_bonds", False)]))
    with registered_plugin(plugin, "toy-edge-policy"):
        p = only(write_pipeline, GOOD + "policy: {name: bond_walks}\n")
        assert p.path == "policy" and p.line == 12
        assert "'bond_walks' needs edge features" in p.message and "csl" in p.message
        assert record("bond_walks", True).facts()["needs_edge_features"] is True
        load_pipeline(write_pipeline(GOOD + "policy: no_bonds\n"))  # no edge features needed
    assert "needs_edge_features" not in record("no_bonds", False).facts()


def test_error_message_format(write_pipeline):
    path = write_pipeline(GOOD.replace("aggregator: sum", "aggregator: summ"))
    with pytest.raises(PipelineError) as info:
        load_pipeline(path)
    text = str(info.value)
    assert f"{path}:6: model.aggregator: unknown aggregator 'summ'" in text
    assert "hint: did you mean 'sum'?" in text


def test_readout_layers_all_is_refused_with_a_policy(write_pipeline):
    text = GOOD.replace("readout: mean", "readout: mean\n  readout_layers: all")
    assert load_pipeline(write_pipeline(text)).data["model"]["readout_layers"] == "all"
    p = only(write_pipeline, text + "policy: {name: ego, hops: 1}\n")
    assert p.path == "model.readout_layers" and "'ego'" in p.message
    assert "only 'last'" in p.message and "remove" in p.hint


def test_readout_layers_all_sums_one_head_per_layer(write_pipeline):
    import dgl
    import torch

    from wlkit.model.build import build_model, instantiate_dataset

    text = GOOD.replace("readout: mean", "readout: mean\n  readout_layers: all\n"
                        "  head_layers: 1\n  head_dropout: 0.5\n  activate_last: true")
    data = load_pipeline(write_pipeline(text)).data
    torch.manual_seed(0)
    model = build_model(data, instantiate_dataset(data["dataset"])).eval()
    assert model.body.out_dim == 3 * 16 and len(model.head.heads) == 3  # input + 2 layers
    g = dgl.batch([dgl.graph(([0, 1, 2], [1, 2, 0])), dgl.graph(([0, 1], [1, 0]))])
    g.ndata["pe"] = torch.randn(5, 8)
    emb = model.embed(g)
    # each block is one depth's mean readout: the first block reads the input states
    h = model.body.stack.states(g, model.body.node_input(g))
    torch.testing.assert_close(emb[:, :16], torch.stack([h[0][:3].mean(0), h[0][3:].mean(0)]))
    assert (h[-1] >= 0).all()  # activate_last: ReLU after the last layer too
    blocks = emb.split(16, dim=-1)
    expected = sum(head(b) for head, b in zip(model.head.heads, blocks))
    torch.testing.assert_close(model(g), expected)
    model.train()
    assert not torch.equal(model(g), model(g))  # head dropout acts in training


def test_step_settings_without_the_step_scheduler_are_refused(write_pipeline):
    p = only(write_pipeline, GOOD.replace("lr: 0.01}", "lr: 0.01, step_epochs: 20}"))
    assert p.path == "train.step_epochs" and "only by scheduler 'step'" in p.message
    text = GOOD.replace("lr: 0.01}", "lr: 0.01, scheduler: step, step_gamma: 0.1}")
    assert load_pipeline(write_pipeline(text)).data["train"]["step_gamma"] == 0.1


def test_head_dropout_keeps_the_plain_head_keys_and_summed_heads_take_mlps(write_pipeline):
    import torch

    from wlkit.model.build import build_model, instantiate_dataset

    def model(extra):
        data = load_pipeline(write_pipeline(GOOD.replace("readout: mean",
                                                         "readout: mean\n" + extra))).data
        torch.manual_seed(0)
        return build_model(data, instantiate_dataset(data["dataset"]))

    plain, dropped = model("  head_layers: 2"), model("  head_layers: 2\n  head_dropout: 0.3")
    assert list(plain.state_dict()) == list(dropped.state_dict())
    dropped.load_state_dict(plain.state_dict())  # checkpoints from before the key load
    summed = model("  head_layers: 2\n  readout_layers: all")
    assert [type(m).__name__ for m in summed.head.heads[0]] == ["Linear", "ReLU", "Linear"]
    assert len(summed.head.heads) == 3 and summed.head.heads[0][0].in_features == 16
