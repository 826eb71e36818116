"""``wlkit predict``: predictions of a finished run's best weights, every seed, one row per input.

The model of each seed is rebuilt from ``pipeline.resolved.yaml`` and loaded from its
``best.pt`` with ``torch.load(weights_only=True)``. Inputs are a split of a dataset (the run's
own, or another with the same features and tasks) or a CSV of SMILES strings, featurised with
OGB's ``smiles2graph`` exactly as the ``smiles`` dataset does (molecule runs only).

On a dataset split, each seed's metric is computed from the same forward passes the runner
scored, so on the run's test split it is exactly the test score in ``summary.json``.
Prediction runs on the CPU; a model trained on a GPU may then differ in the last bits.
A model that is random in evaluation (a stochastic policy such as RNI) is seeded with each
seed's number, so its predictions repeat from call to call, but they are not the draws the
runner scored, so its metric differs from ``summary.json``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from wlkit.components import DatasetInfo, LoadedDataset
from wlkit.errors import WlkitError
from wlkit.io import atomic_write_text

SPLITS = ("train", "valid", "test", "all")
ENSEMBLES = ("mean", "median")


@dataclass
class SeedModel:
    """One seed's model with its best weights, in eval mode."""

    seed: int
    module: Any


@dataclass
class LoadedRun:
    """A finished run, ready to predict: its pipeline, components and per-seed models."""

    run_dir: Path
    cfg: dict[str, Any]
    dataset: Any
    encodings: list
    policy: Any
    info: DatasetInfo
    models: list[SeedModel]
    skipped: list[int] = field(default_factory=list)
    summary: dict[str, Any] | None = None


def load_run(run_dir: str | Path, registry: Any = None) -> LoadedRun:
    """Rebuild every seed's model of ``run_dir`` from its resolved pipeline and ``best.pt``.

    Raises
    ------
    WlkitError
        Not a run directory, no seed with ``best.pt``, or a ``best.pt`` that cannot be read
        or does not fit the model.
    """
    from wlkit.model.build import (
        build_model,
        instantiate_dataset,
        instantiate_encodings,
        instantiate_policy,
    )
    from wlkit.model.lightning import GraphPredictionModule
    from wlkit.pipeline import load_pipeline

    run_dir = Path(run_dir)
    resolved = run_dir / "pipeline.resolved.yaml"
    if not run_dir.is_dir():
        raise WlkitError(f"{run_dir}: no such run directory\n    hint: pass the folder "
                         "`wlkit run` printed (it holds pipeline.resolved.yaml and seed_*/)")
    if not resolved.is_file():
        raise WlkitError(f"{run_dir}: not a wlkit run directory (no pipeline.resolved.yaml)"
                         "\n    hint: pass the folder `wlkit run` printed")
    pipeline = load_pipeline(resolved, registry=registry)
    cfg = pipeline.data
    dataset = instantiate_dataset(cfg["dataset"], registry)
    encodings = instantiate_encodings(cfg["encodings"], registry)
    policy = instantiate_policy(cfg, registry)
    info = dataset.info()
    models, skipped = [], []
    for seed in cfg["seeds"]:
        path = run_dir / f"seed_{seed}" / "best.pt"
        if not path.is_file():
            skipped.append(seed)
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WlkitError(f"{path}: unreadable weights ({type(exc).__name__}: {exc})\n"
                             "    hint: the file is damaged; train the run again") from None
        model = build_model(cfg, dataset, encodings, registry, policy)
        module = GraphPredictionModule(model, info, dataset.evaluate, cfg["train"])
        try:
            module.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise WlkitError(f"{path}: the weights do not fit the model of "
                             f"{resolved} ({first})\n    hint: was the pipeline file edited "
                             "after the run, or a plugin upgraded?") from None
        module.eval()
        models.append(SeedModel(seed, module))
    if not models:
        raise WlkitError(f"{run_dir}: no seed has best.pt (seeds {cfg['seeds']})\n    hint: "
                         "best.pt is written once a seed scores a validation epoch, unless "
                         "output.save_checkpoint is false; train the run (again) with it on")
    if skipped:
        warnings.warn(f"{run_dir}: seed(s) {skipped} have no best.pt and are left out of the "
                      "ensemble", stacklevel=2)
    summary = None
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        pass
    return LoadedRun(run_dir, cfg, dataset, encodings, policy, info, models, skipped, summary)


# -- inputs --------------------------------------------------------------------------------


@dataclass
class SmilesRow:
    """One data row of a SMILES file: where it starts, its string and all its cells."""

    line: int
    smiles: str
    cells: list[str]


def read_smiles_csv(path: str | Path,
                    column: str = "smiles") -> tuple[list[str], list[SmilesRow]]:
    """The header and every data row of a CSV file of molecules (the header is line 1).

    Raises
    ------
    WlkitError
        The file cannot be read, or it has no ``column``.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if column not in header:
                raise WlkitError(f"{path}: no {column!r} column; the header has "
                                 f"{header}\n    hint: name the column with --smiles-column")
            at = header.index(column)
            rows, line = [], reader.line_num + 1
            for cells in reader:
                # a quoted field may span lines: a row starts after the previous one ended
                start, line = line, reader.line_num + 1
                if not cells:
                    continue  # a blank line is no row
                cells = (cells + [""] * len(header))[:len(header)]
                rows.append(SmilesRow(start, cells[at].strip(), cells))
            return header, rows
    except OSError as exc:
        raise WlkitError(f"{path}: cannot read the SMILES file ({exc.strerror or exc})\n"
                         "    hint: pass a CSV file with a header row and a smiles column"
                         ) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise WlkitError(f"{path}: not a readable CSV file ({exc})\n    hint: pass a UTF-8 "
                         "CSV file with a header row and a smiles column") from None


def _is_molecule_run(run: LoadedRun) -> bool:
    """Whether the run's inputs are OGB-featurised molecules (OGB's AtomEncoder)."""
    from ogb.graphproppred.mol_encoder import AtomEncoder

    try:
        return isinstance(run.dataset.node_encoder(4), AtomEncoder)
    except Exception:
        return False


def _smiles_graphs(rows: list[SmilesRow]) -> tuple[list, list[str | None]]:
    """Graphs of the valid rows and, per row, None or the reason it has no graph."""
    from rdkit import RDLogger

    from wlkit.datasets.smiles import smiles_graph

    graphs, errors = [], []
    RDLogger.DisableLog("rdApp.*")  # the error column says it; no RDKit lines on stderr
    try:
        for row in rows:
            smiles = row.smiles
            if not smiles:
                errors.append("empty SMILES")
                continue
            try:
                graphs.append(smiles_graph(smiles))
                errors.append(None)
            except ValueError as exc:
                errors.append(str(exc))
    finally:
        RDLogger.EnableLog("rdApp.*")
    return graphs, errors


def _dataset_spec(run: LoadedRun, spec: str, registry: Any) -> dict[str, Any]:
    """The dataset component of ``spec``: ``run`` (the run's own) or a pipeline value."""
    from wlkit.pipeline.loader import validate_pipeline
    from wlkit.pipeline.yamlio import safe_load

    if spec == "run":
        return run.cfg["dataset"]
    import yaml

    try:
        value = safe_load(spec)
    except yaml.YAMLError as exc:
        raise WlkitError(f"--dataset {spec!r} is not valid YAML: {exc}\n    hint: a dataset "
                         "name (ogbg-molesol), a mapping ({name: ogb, dataset: ogbg-molesol, "
                         "root: DIR}) or `run`") from None
    # validated as the run's pipeline with this dataset: the same errors as `wlkit run`
    data = {**run.cfg, "dataset": value}
    return validate_pipeline(data, file="--dataset", registry=registry).data["dataset"]


def _check_compatible(run: LoadedRun, info: DatasetInfo, name: str) -> None:
    mine = run.info
    for key in ("task", "num_tasks", "node_feat_dim", "edge_feat_dim"):
        if getattr(info, key) != getattr(mine, key):
            raise WlkitError(f"dataset {name!r} does not fit the run's model: {key} is "
                             f"{getattr(info, key)!r}, the run was trained with "
                             f"{getattr(mine, key)!r}\n    hint: predict on a dataset with "
                             "the features and tasks of the run's dataset")


# -- forward -------------------------------------------------------------------------------


@torch.no_grad()
def _forward(run: LoadedRun, prepared: Any, split: str) -> tuple[Tensor, Tensor]:
    """Raw outputs ``[seeds, rows, out]`` of every seed on one split, and the targets."""
    from wlkit.model.data import GraphDataModule

    outputs, targets = [], None
    for model in run.models:
        data = GraphDataModule(run.dataset, run.encodings, run.cfg["train"], model.seed,
                               prepared, run.policy)
        preds, trues = [], []
        # A model that draws random numbers in evaluation (RNI) gives the same predictions
        # on every call, and the caller's global RNG is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(model.seed)
            for graph, target, policy_batch in data.full_loader(split):
                preds.append(model.module(graph, policy_batch).detach().cpu())
                trues.append(target.detach().cpu())
        outputs.append(torch.cat(preds))
        targets = torch.cat(trues)
    return torch.stack(outputs), targets


def _score(evaluate: Any, info: DatasetInfo, y_true: Tensor, y_pred: Tensor) -> float:
    # the reshaping GraphPredictionModule applies before the dataset's evaluator
    if info.task != "multiclass" and y_true.dim() == 1:
        y_true = y_true.view(-1, 1)
    return float(evaluate(y_true, y_pred))


def _to_space(info: DatasetInfo, raw: Tensor) -> Tensor:
    """Outputs as users read them: probabilities for classification, values otherwise."""
    if info.task == "binary":
        return torch.sigmoid(raw)
    if info.task == "multiclass":
        return torch.softmax(raw, dim=-1)
    return raw


def _from_space(info: DatasetInfo, values: Tensor) -> Tensor:
    """Back to the model's output space (logits), so the dataset's evaluator reads it."""
    # clamped: a probability of exactly 0 or 1 (float32) would become an infinite logit
    if info.task == "binary":
        return torch.logit(values.double().clamp(1e-12, 1 - 1e-12)).to(values.dtype)
    if info.task == "multiclass":
        return torch.log(values.double().clamp_min(1e-300)).to(values.dtype)
    return values


def _combine(values: Tensor, ensemble: str) -> Tensor:
    if ensemble == "median":
        return values.median(dim=0).values
    return values.mean(dim=0)


# -- rows ----------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    # 9 significant digits: a float32 output reads back exactly
    return "" if math.isnan(value) else format(value, ".9g")


def _task_names(run: LoadedRun) -> list[str]:
    names = getattr(run.dataset, "label_columns", None)
    count = run.info.num_tasks
    if isinstance(names, list) and len(names) == count and run.info.task != "multiclass":
        return [str(n) for n in names]
    return [str(t) for t in range(count)]


def _prediction_columns(run: LoadedRun) -> list[str]:
    info = run.info
    if info.task == "multiclass":
        return [*(f"prob_{c}" for c in range(info.num_tasks)), "class", "std"]
    names = _task_names(run)
    one = len(names) == 1
    columns = []
    for name in names:
        tag = "" if one else f"_{name}"
        columns += ([f"pred{tag}", f"std{tag}"] if info.task == "regression"
                    else [f"prob{tag}", f"class{tag}", f"std{tag}"])
    return columns


def _prediction_cells(run: LoadedRun, combined: Tensor, per_seed: Tensor,
                      row: int) -> list[str]:
    """The prediction cells of one row (``combined`` [rows, out], ``per_seed`` [seeds, ...])."""
    info = run.info
    spread = per_seed.std(dim=0, unbiased=True) if per_seed.shape[0] > 1 else None
    if info.task == "multiclass":
        probs = combined[row]
        chosen = int(probs.argmax())
        std = "" if spread is None else _fmt(float(spread[row, chosen]))
        return [*(_fmt(float(p)) for p in probs), str(chosen), std]
    cells = []
    for t in range(info.num_tasks):
        value = float(combined[row, t])
        std = "" if spread is None else _fmt(float(spread[row, t]))
        if info.task == "regression":
            cells += [_fmt(value), std]
        else:
            cells += [_fmt(value), str(int(value >= 0.5)), std]
    return cells


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


# -- the command ---------------------------------------------------------------------------


def predict(run_dir: str | Path, *, smiles: str | Path | None = None,
            smiles_column: str = "smiles", dataset: str | None = None, split: str = "test",
            out: str | Path = "preds.csv", ensemble: str = "mean",
            registry: Any = None) -> dict[str, Any]:
    """Predict with every seed of a finished run and write one CSV row per input.

    Parameters
    ----------
    run_dir : path
        A run directory written by ``wlkit run``.
    smiles : path, optional
        A CSV file with a SMILES column (molecule runs). Every row comes back with its
        line number, all its columns and the prediction; invalid SMILES keep their row,
        with the reason in the ``error`` column. An input column named like an output
        column is renamed ``input_<name>``.
    smiles_column : str
        The column of ``smiles`` that holds the strings.
    dataset : str, optional
        ``run`` (the run's dataset) or a dataset as a pipeline writes it, e.g.
        ``ogbg-molesol`` or ``{name: ogb, dataset: ogbg-molesol, root: DIR}``.
    split : {"train", "valid", "test", "all"}
        The split of ``dataset`` to predict.
    out : path
        The CSV file to write (atomically).
    ensemble : {"mean", "median"}
        How the seeds' predictions (probabilities for classification) are combined.

    Returns
    -------
    dict
        ``out``, ``rows``, ``invalid`` (rows without a prediction), ``seeds`` used,
        ``skipped_seeds`` and, on a dataset, ``metric``, ``per_seed`` metric values, their
        ``mean``, the ``ensemble`` metric and what ``summary.json`` holds for the split.
    """
    if (smiles is None) == (dataset is None):
        raise WlkitError("give exactly one of --smiles FILE.csv and --dataset SPEC\n    hint: "
                         "--dataset run predicts the run's own dataset")
    if split not in SPLITS:
        raise WlkitError(f"unknown split {split!r}\n    hint: one of {', '.join(SPLITS)}")
    if ensemble not in ENSEMBLES:
        raise WlkitError(f"unknown ensemble {ensemble!r}\n    hint: one of "
                         f"{', '.join(ENSEMBLES)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise WlkitError(f"{out.parent}: no such folder\n    hint: create it, or pass "
                         "another --out")
    if smiles is not None:
        table = read_smiles_csv(smiles, smiles_column)  # bad input fails before the model
    run = load_run(run_dir, registry)
    if smiles is not None:
        return _predict_smiles(run, *table, out, ensemble)
    return _predict_dataset(run, _dataset_spec(run, dataset, registry), split, out, ensemble,
                            registry)


def _result(run: LoadedRun, out: Path, rows: int, invalid: int) -> dict[str, Any]:
    return {"out": str(out), "rows": rows, "invalid": invalid,
            "seeds": [m.seed for m in run.models], "skipped_seeds": run.skipped}


def _predict_smiles(run: LoadedRun, columns: list[str], rows: list[SmilesRow], out: Path,
                    ensemble: str) -> dict[str, Any]:
    from wlkit.model.data import PreparedData, attach_encodings, prepare_policy

    if not _is_molecule_run(run):
        raise WlkitError(f"{run.run_dir}: the run's dataset {run.cfg['dataset']['name']!r} "
                         "is not made of OGB-featurised molecules, so SMILES cannot be fed to "
                         "its model\n    hint: use --dataset SPEC for this run")
    graphs, errors = _smiles_graphs(rows)
    per_seed = combined = None
    if graphs:
        attach_encodings(graphs, run.encodings)
        policy_data = prepare_policy(graphs, run.policy,
                                     run.cfg["policy"]["name"] if run.policy else "policy")
        dummy = (torch.zeros(len(graphs), dtype=torch.long) if run.info.task == "multiclass"
                 else torch.zeros(len(graphs), run.info.num_tasks))
        loaded = LoadedDataset(graphs, dummy, {"all": torch.arange(len(graphs))})
        prepared = PreparedData(run.info, loaded, policy_data)
        raw, _ = _forward(run, prepared, "all")
        per_seed = _to_space(run.info, raw)
        combined = _combine(per_seed, ensemble)
    # the input's own columns (ids, names) come along, so each row says which molecule
    predictions = [*_prediction_columns(run), "error"]
    taken = {"line", *predictions}
    kept = [f"input_{c}" if c in taken else c for c in columns]
    header = ["line", *kept, *predictions]
    table, k = [], 0
    blank = [""] * (len(predictions) - 1)
    for row, error in zip(rows, errors):
        if error is None:
            cells = _prediction_cells(run, combined, per_seed, k)
            k += 1
        else:
            cells = blank
        table.append([str(row.line), *row.cells, *cells, error or ""])
    _write_csv(out, header, table)
    return _result(run, out, len(rows), sum(e is not None for e in errors))


def _predict_dataset(run: LoadedRun, spec: dict[str, Any], split: str, out: Path,
                     ensemble: str, registry: Any) -> dict[str, Any]:
    from wlkit.model.build import instantiate_dataset
    from wlkit.model.data import prepare

    same = spec == run.cfg["dataset"]
    target = run.dataset if same else instantiate_dataset(spec, registry)
    info = target.info()
    if not same:
        _check_compatible(run, info, spec["name"])
    prepared = prepare(target, run.encodings, policy=run.policy,
                       policy_name=run.cfg["policy"]["name"] if run.policy else "policy")
    splits = prepared.loaded.splits
    if split == "all":
        splits["all"] = torch.arange(len(prepared.loaded.graphs))
    indices = splits[split].tolist()
    raw, targets = _forward(run, prepared, split)
    per_seed = _to_space(run.info, raw)
    combined = _combine(per_seed, ensemble)
    metrics = [_score(target.evaluate, info, targets, raw[i]) for i in range(raw.shape[0])]
    ensemble_metric = _score(target.evaluate, info, targets, _from_space(info, combined))
    names = _task_names(run)
    if info.task == "multiclass":
        target_columns = ["target"]
    else:
        target_columns = (["target"] if len(names) == 1
                          else [f"target_{n}" for n in names])
    header = ["index", "split", *target_columns, *_prediction_columns(run), "error"]
    table = []
    for k, index in enumerate(indices):
        truth = targets[k]
        cells = ([str(int(truth))] if info.task == "multiclass"
                 else [_fmt(float(v)) for v in truth.view(-1)])
        table.append([str(index), split, *cells,
                      *_prediction_cells(run, combined, per_seed, k), ""])
    _write_csv(out, header, table)
    result = _result(run, out, len(indices), 0)
    recorded = None
    if same and run.summary and split in ("valid", "test"):
        recorded = {str(r["seed"]): r.get(split) for r in run.summary.get("per_seed", [])}
    result.update({"split": split, "metric": info.metric,
                   "per_seed": dict(zip((str(m.seed) for m in run.models), metrics)),
                   "mean": statistics.fmean(metrics), "ensemble": ensemble,
                   "ensemble_metric": ensemble_metric, "summary_per_seed": recorded})
    return result
