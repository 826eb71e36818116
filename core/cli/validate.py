"""``wlkit validate``: check a pipeline, build its model and print its summary."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from wlkit.cli.options import add_overrides

if TYPE_CHECKING:
    import torch


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validate", help="check a pipeline and print its summary")
    parser.add_argument("pipeline", help="pipeline YAML file")
    add_overrides(parser)
    parser.set_defaults(handler=run)


def _runs_pipeline_layer(model: torch.nn.Module, layer: str) -> bool:
    """Whether ``model`` contains the pipeline's layer (True when that cannot be told)."""
    from wlkit.manager import get_registry

    factory = get_registry().get("layer", layer).factory
    if not isinstance(factory, type):
        return True
    return any(isinstance(module, factory) for module in model.modules())


def _warn_depth(cfg: dict, dataset: object) -> None:
    """When the pipeline's dataset is a WL suite: warn if its pairs need more refinement
    rounds of the model's oracle than the model has layers (cached or cheap answers only,
    so validation stays fast; ``wlkit separate`` always checks)."""
    from wlkit.suites import WLSuite

    if not isinstance(dataset, WLSuite):
        return
    from wlkit.tools.separate import depth_requirement

    text = depth_requirement(cfg, dataset)
    if text:
        print(text)


def run(args: argparse.Namespace) -> int:
    from wlkit.model.build import (
        build_model,
        check_model_fits,
        count_parameters,
        instantiate_dataset,
        trial_forward,
    )
    from wlkit.pipeline import load_pipeline

    pipeline = load_pipeline(args.pipeline, args.overrides)
    cfg = pipeline.data
    dataset = instantiate_dataset(cfg["dataset"])
    info = dataset.info()
    # exact size on the meta device first: a model too big for memory is never allocated
    check_model_fits(cfg, dataset, where=args.pipeline)
    model = build_model(cfg, dataset)
    # one forward pass on generated graphs: a component returning the wrong shape is named
    # here, before any data loads
    trial_forward(cfg, dataset)
    print(f"{args.pipeline}: valid")
    print(f"name: {pipeline.name}")
    print(f"dataset: {cfg['dataset']['name']} ({info.task}, {info.num_tasks} "
          f"{'classes' if info.task == 'multiclass' else 'tasks'}, metric {info.metric})")
    encodings = ", ".join(e["name"] for e in cfg["encodings"]) or "none"
    print(f"encodings: {encodings}")
    print(f"policy: {cfg['policy']['name'] if cfg['policy'] else 'none'}")
    m = cfg["model"]
    if _runs_pipeline_layer(model, m["layer"]["name"]):
        print(f"model: {m['num_layers']} x {m['layer']['name']} (aggregator "
              f"{m['aggregator']['name']}), hidden {m['hidden']}, readout "
              f"{m['readout']['name']}")
    else:  # e.g. pathnn, spen: the policy builds its own layers
        print(f"model: {m['num_layers']} layers built by policy {cfg['policy']['name']} "
              f"(model.layer and model.aggregator unused), hidden {m['hidden']}, readout "
              f"{m['readout']['name']}")
    print(f"seeds: {cfg['seeds']}")
    print(f"num_params: {count_parameters(model)}")
    _warn_depth(cfg, dataset)
    print("--- resolved pipeline ---")
    print(pipeline.dump(), end="")
    return 0
