"""The ``assert_*`` checks of the conformance kit (what ``wlkit check`` runs)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dgl
import torch
from torch import Tensor, nn

from wlkit.components import ComponentError
from wlkit.errors import WlkitError
from wlkit.manager import COMPONENT_NAME, NAME_RULE
from wlkit.params import REQUIRED, Param
from wlkit.records import RECORD_TYPES, ComponentRecord
from wlkit.testing.probes import (
    _NODE_INPUT,
    ComponentRefused,
    Graphs,
    Probe,
    _AggregatorProbe,
    _cases,
    _randn,
    relabel,
)

# ============================================================================ helpers


@contextlib.contextmanager
def _mode(probe: Probe, training: bool) -> Iterator[None]:
    module = probe.module
    before = module.training if module is not None else None
    if module is not None:
        module.train(training)
    try:
        yield
    finally:
        if module is not None:
            module.train(bool(before))


def _attached(probe: Probe, cases: list[tuple[str, dgl.DGLGraph]],
              seed: int) -> list[tuple[str, dgl.DGLGraph]]:
    return [(name, probe.attach(g, seed + 7919 * i)) for i, (name, g) in enumerate(cases)]


def _split(probe: Probe, out: Tensor, graphs: list[dgl.DGLGraph]) -> list[Tensor]:
    if probe.level == "graph":
        return list(out.unbind(0))
    return list(torch.split(out, [g.num_nodes() for g in graphs]))


def _run(probe: Probe, graphs: list[dgl.DGLGraph]) -> list[Tensor]:
    """Per-graph outputs of one batched call (eval mode, no gradients)."""
    batch = dgl.batch(graphs)
    with torch.no_grad(), _mode(probe, False):
        out = probe(batch)
    _check_rows(probe, out, batch)
    return _split(probe, out, graphs)


def _check_rows(probe: Probe, out: Any, batch: dgl.DGLGraph) -> None:
    rows = probe.rows(batch)
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != rows:
        raise AssertionError(f"{probe}: expected an output of shape [{rows}, out_dim] "
                             f"({'nodes' if probe.level == 'node' else 'graphs'} x width), got "
                             f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))}")


def _difference(a: Tensor, b: Tensor, rtol: float, atol: float) -> str | None:
    """None when ``a`` and ``b`` agree (tolerances scaled by their magnitude), else why."""
    if a.shape != b.shape:
        return f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"
    if a.numel() == 0:
        return None
    a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()
    finite = torch.isfinite(a64) & torch.isfinite(b64)
    if not torch.equal(torch.isfinite(a64), torch.isfinite(b64)) or not torch.equal(
            a64[~finite].nan_to_num(), b64[~finite].nan_to_num()):
        return "non-finite values differ"
    if not bool(finite.any()):
        return None
    scale = max(float(a64[finite].abs().max()), float(b64[finite].abs().max()), 1.0)
    diff = (a64 - b64)[finite].abs()
    limit = atol * scale + rtol * b64[finite].abs()
    bad = diff > limit
    if not bool(bad.any()):
        return None
    return (f"max |difference| {float(diff.max()):.3g} (output scale {scale:.3g}; "
            f"{int(bad.sum())} of {bad.numel()} values off)")


def _fail(probe: Probe, what: str, failures: list[str]) -> None:
    if failures:
        lines = "\n  ".join(failures)
        raise AssertionError(f"{probe}: {what}\n  {lines}")


def usable_graphs(probe: Probe, graphs: Graphs = None, *,
                  seed: int = 0) -> tuple[dict[str, dgl.DGLGraph], dict[str, str]]:
    """The graphs ``probe`` accepts, and why it refuses the others.

    A component may refuse a graph with a :class:`wlkit.WlkitError` (a clear, documented
    limit: e.g. ``lappe`` asks for ``k`` eigenvectors of a graph with fewer nodes). Any other
    exception propagates. Raises :class:`ComponentRefused` when every graph is refused.
    """
    usable: dict[str, dgl.DGLGraph] = {}
    refused: dict[str, str] = {}
    for name, graph in _cases(graphs):
        try:
            _run(probe, [probe.attach(graph, seed)])
        except WlkitError as exc:
            refused[name] = str(exc).split("\n")[0]
            continue
        usable[name] = graph
    if not usable:
        first = next(iter(refused.values()), "no graphs given")
        raise ComponentRefused(f"{probe} refuses every graph ({first})")
    return usable, refused


# ============================================================================ assertions


def assert_permutation_invariant(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                                 rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Relabelling nodes (and reordering edges) leaves the output unchanged.

    For graph-level outputs the rows must be equal; for node-level outputs (aggregators,
    layers, encodings) row ``perm[i]`` of the relabelled graph's output must equal row ``i``
    (equivariance). Checked in eval mode on each graph alone and on all of them as one
    batch, up to rounding: ``|a - b| <= atol * scale + rtol * |b|`` with ``scale`` the
    larger output magnitude (at least 1). Noise of stochastic components must follow
    ``ndata["_node_key"]``, which moves with the nodes.

    Raises
    ------
    AssertionError
        Naming the graph and the size of the difference.
    """
    cases = _attached(probe, _cases(graphs), seed)
    moved = [(name, *relabel(g, seed=seed + 101 * i)) for i, (name, g) in enumerate(cases)]
    failures: list[str] = []
    for (name, g), (_, new, perm) in zip(cases, moved):
        (before,) = _run(probe, [g])
        (after,) = _run(probe, [new])
        if probe.level == "node":
            after = after[perm]
        why = _difference(after, before, rtol, atol)
        if why:
            failures.append(f"graph {name!r}: {why}")
    if len(cases) > 1 and not failures:
        before = _run(probe, [g for _, g in cases])
        after = _run(probe, [new for _, new, _ in moved])
        for (name, _), (_, _, perm), b, a in zip(cases, moved, before, after):
            why = _difference(a[perm] if probe.level == "node" else a, b, rtol, atol)
            if why:
                failures.append(f"graph {name!r} in a batch: {why}")
    kind = "equivariant" if probe.level == "node" else "invariant"
    _fail(probe, f"output is not permutation {kind}", failures)


def assert_permutation_equivariant(probe: Probe, graphs: Graphs = None, **kwargs: Any) -> None:
    """Alias of :func:`assert_permutation_invariant` for node-level outputs."""
    if probe.level != "node":
        raise ValueError(f"{probe} has graph-level outputs; use assert_permutation_invariant")
    assert_permutation_invariant(probe, graphs, **kwargs)


def assert_batch_independent(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                             rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """A graph's output does not depend on the other graphs of its batch or its position.

    Each graph alone is compared with the same graph inside one batch of all the graphs,
    and inside the reversed batch (eval mode).
    """
    cases = _attached(probe, _cases(graphs), seed)
    graphs_only = [g for _, g in cases]
    alone = [_run(probe, [g])[0] for g in graphs_only]
    together = _run(probe, graphs_only)
    reverse = _run(probe, graphs_only[::-1])[::-1]
    failures = []
    for (name, _), a, t, r in zip(cases, alone, together, reverse):
        for label, other in (("in a batch", t), ("in the reversed batch", r)):
            why = _difference(other, a, rtol, atol)
            if why:
                failures.append(f"graph {name!r} {label} vs alone: {why}")
                break
    _fail(probe, "outputs depend on the rest of the batch", failures)


def _state(module: nn.Module | None) -> dict[str, Tensor]:
    return {} if module is None else module.state_dict()


def _keeps_rng(function: Callable[..., None]) -> Callable[..., None]:
    """Run ``function`` without changing torch's global random state."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with torch.random.fork_rng(devices=[]):
            function(*args, **kwargs)

    return wrapper


@_keeps_rng
def assert_deterministic(probe: Probe, graphs: Graphs = None, *, seed: int = 0) -> None:
    """Under one seed, two builds are identical and give identical outputs, bit for bit.

    Checks that (1) two components built after ``torch.manual_seed(seed)`` have equal
    ``state_dict``s, (2) in eval mode two calls agree, and (3) in training mode two calls,
    each after ``torch.manual_seed``, agree (dropout, sampling and fresh noise drawn from
    torch's generator are then reproducible).
    """
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    torch.manual_seed(seed)
    first = probe.fresh()
    torch.manual_seed(seed)
    second = probe.fresh()
    failures = []
    a_state, b_state = _state(first.module), _state(second.module)
    if a_state.keys() != b_state.keys():
        failures.append("two builds have different state_dict keys")
    else:
        for key in a_state:
            if not torch.equal(a_state[key], b_state[key]):
                failures.append(f"two builds under seed {seed} differ in {key!r}")
                break
    with torch.no_grad(), _mode(first, False), _mode(second, False):
        outs = [first(batch), first(batch), second(batch)]
    if not (torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])):
        failures.append("eval mode: repeated calls differ"
                        + (" (stochastic: draw eval noise from ndata['_node_key'])"
                           if probe.stochastic else ""))
    if first.module is not None:
        with torch.no_grad(), _mode(first, True), _mode(second, True):
            torch.manual_seed(seed)
            a = first(batch)
            torch.manual_seed(seed)
            b = second(batch)
        if not torch.equal(a, b):
            failures.append("training mode: two calls after torch.manual_seed(seed) differ")
    _fail(probe, "not deterministic under a seed", failures)


def _float_params(module: nn.Module | None) -> list[tuple[str, nn.Parameter]]:
    if module is None:
        return []
    return [(n, p) for n, p in module.named_parameters() if p.requires_grad]


@_keeps_rng
def assert_gradient_flow(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                         require_all: bool = False, inputs: bool = True) -> None:
    """A loss on the output (training mode) gives finite gradients that reach the weights
    and the float inputs.

    At least one trainable parameter must get a non-zero gradient (if there are any), and
    with ``inputs`` the probe's inputs (messages, node states or node features) too. With
    ``require_all`` every trainable parameter must get a gradient; off by default, since
    some parameters are legitimately unused by a batch (e.g. weights tied per subgraph size
    for sizes the batch lacks).
    """
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    leaves = []
    for frame, key in probe.input_keys():
        data = batch.ndata if frame == "ndata" else batch.edata
        leaf = data[key].detach().clone().requires_grad_(True)
        data[key] = leaf
        leaves.append((f"{frame}[{key!r}]", leaf))
    params = _float_params(probe.module)
    for _, p in params:
        p.grad = None
    failures = []
    with _mode(probe, True):
        torch.manual_seed(seed)
        out = probe(batch)
        if not out.requires_grad:
            if params or (inputs and leaves):
                failures.append("the output does not require grad (detached computation?)")
        else:
            weights = _randn(tuple(out.shape), seed).to(out.device, out.dtype)
            (out * weights).sum().backward()
    unused = [n for n, p in params if p.grad is None]
    bad = [n for n, p in params if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    if bad:
        failures.append(f"non-finite gradients in {', '.join(bad[:5])}")
    if params and not any(p.grad is not None and bool(p.grad.abs().sum() > 0) for _, p in params):
        failures.append("no parameter gets a non-zero gradient")
    if require_all and unused:
        failures.append(f"parameters without a gradient: {', '.join(unused[:8])}")
    if inputs:
        for label, leaf in leaves:
            if leaf.grad is None or not bool(leaf.grad.abs().sum() > 0):
                failures.append(f"no gradient reaches the input {label}")
            elif not bool(torch.isfinite(leaf.grad).all()):
                failures.append(f"non-finite gradient at the input {label}")
    for _, p in params:
        p.grad = None
    _fail(probe, "gradients do not flow", failures)


def assert_output_contract(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                           float64: bool = False) -> None:
    """Shapes, dtype, finiteness and device of the output.

    The output is a 2-D tensor with one row per node (or graph) and ``probe.out_dim``
    columns, finite, on the input's device and float32 for float32 weights and inputs (the
    dtype wlkit trains in). With ``float64`` it must also be float64 after
    ``module.double()`` with float64 inputs (off by default: wlkit's model input encoder
    casts features to float32, so policies built on it cannot run in float64). Aggregators
    must also give the same result through ``aggregate_neighbours`` as through ``forward``
    on the per-edge source states.
    """
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    failures = []
    with torch.no_grad(), _mode(probe, False):
        try:
            out = probe(batch)
        except ComponentError as exc:  # the base class's own shape check: judge its output
            if not isinstance(exc.output, Tensor):
                raise AssertionError(str(exc)) from None
            out = exc.output
    _check_rows(probe, out, batch)
    if out.shape[1] != probe.out_dim:
        failures.append(f"width {out.shape[1]}, but out_dim is {probe.out_dim}")
    if out.dtype != torch.float32:
        failures.append(f"dtype {out.dtype} for float32 weights and inputs")
    if out.device != batch.device:
        failures.append(f"output on {out.device}, input on {batch.device}")
    if not bool(torch.isfinite(out).all()):
        rows = torch.nonzero(~torch.isfinite(out).all(1)).flatten()[:5].tolist()
        failures.append(f"non-finite values in rows {rows}")
    if isinstance(probe, _AggregatorProbe):
        src, _ = batch.edges()
        h = batch.ndata[_NODE_INPUT]
        with torch.no_grad(), _mode(probe, False):
            fused = probe.component.aggregate_neighbours(batch, h)
            plain = probe.component(batch, h[src.long()])
        why = _difference(fused, plain, 1e-4, 1e-5)
        if why:
            failures.append(f"aggregate_neighbours differs from forward on h[src]: {why}")
    module = probe.module
    if float64 and module is not None and any(True for _ in module.parameters()):
        double = probe.fresh()
        double.module.load_state_dict(module.state_dict())
        double.module.double()
        wide = dgl.batch([g for _, g in cases])
        for frame in (wide.ndata, wide.edata):
            for key in list(frame.keys()):
                if frame[key].is_floating_point():
                    frame[key] = frame[key].double()
        try:
            with torch.no_grad(), _mode(double, False):
                out64 = double(wide)
        except Exception as exc:
            failures.append(f"float64 (module.double()): {type(exc).__name__}: {exc}")
        else:
            if out64.dtype != torch.float64:
                failures.append(f"float64 weights and inputs give {out64.dtype}")
    _fail(probe, "breaks the output contract", failures)


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when torch sees a GPU and DGL's build can use it."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        try:
            dgl.graph(([0], [0])).to("cuda")
            devices.append("cuda")
        except Exception:  # a CPU-only DGL build cannot move graphs to CUDA
            pass
    return devices


def assert_device_placement(probe: Probe, graphs: Graphs = None, *,
                            device: str | torch.device = "cpu", seed: int = 0) -> None:
    """On ``device`` (weights and graph moved there) the output is on ``device`` too and
    matches the CPU output up to rounding."""
    device = torch.device(device)
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    with torch.no_grad(), _mode(probe, False):
        reference = probe(batch)
    module = probe.module
    failures = []
    try:
        if module is not None:
            module.to(device)
        with torch.no_grad(), _mode(probe, False):
            out = probe(batch.to(device))
        if out.device.type != device.type:
            failures.append(f"output on {out.device}, expected {device}")
        why = _difference(out.cpu(), reference, 1e-3, 1e-4)
        if why:
            failures.append(f"output on {device} differs from the CPU: {why}")
        if module is not None:
            stray = [n for n, t in [*module.named_parameters(), *module.named_buffers()]
                     if t.device.type != device.type]
            if stray:
                failures.append(f"tensors left off {device}: {', '.join(stray[:5])}")
    finally:
        if module is not None:
            module.to("cpu")
    _fail(probe, f"misplaced on {device}", failures)


@_keeps_rng
def assert_state_dict_roundtrip(probe: Probe, graphs: Graphs = None, *, seed: int = 0) -> None:
    """Weights saved with ``torch.save(module.state_dict())`` load with
    ``torch.load(weights_only=True)`` into a fresh build (strictly), which then gives the
    same outputs: no state lives outside the ``state_dict``."""
    module = probe.module
    if module is None:
        return
    cases = _attached(probe, _cases(graphs), seed)
    batch = dgl.batch([g for _, g in cases])
    failures = []
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    try:
        state = torch.load(buffer, weights_only=True)
    except Exception as exc:
        raise AssertionError(f"{probe}: state_dict does not load with weights_only=True: "
                             f"{type(exc).__name__}: {exc}") from exc
    torch.manual_seed(seed + 1)
    other = probe.fresh()
    try:
        other.module.load_state_dict(state, strict=True)
    except Exception as exc:
        raise AssertionError(f"{probe}: a fresh build does not load the saved state_dict: "
                             f"{type(exc).__name__}: {exc}") from exc
    with torch.no_grad(), _mode(probe, False), _mode(other, False):
        a, b = probe(batch), other(batch)
    if not torch.equal(a, b):
        why = _difference(b, a, 0.0, 0.0) or "outputs differ"
        failures.append(f"after loading the weights the outputs differ: {why} (state kept "
                        "outside the state_dict?)")
    _fail(probe, "does not round-trip through its state_dict", failures)


_PARAM_TYPES = (int, float, bool, str, list, dict)


def assert_record(record: ComponentRecord) -> None:
    """A record is well formed: a lower-case name, a one-line summary, facts of the right
    types, typed and documented parameters whose defaults pass their own checks, and a
    factory that accepts every parameter as a keyword."""
    problems = []
    family = getattr(record, "family", "")
    if family not in RECORD_TYPES or not isinstance(record, RECORD_TYPES[family]):
        problems.append(f"not a component record ({type(record).__name__})")
    name = getattr(record, "name", None)
    if not isinstance(name, str) or not COMPONENT_NAME.fullmatch(name):  # as at registration
        problems.append(f"name {name!r} must be {NAME_RULE}")
    summary = getattr(record, "summary", "")
    if not isinstance(summary, str) or not summary.strip() or "\n" in summary:
        problems.append("summary must be one non-empty line")
    for fact in ("permutation_invariant", "stochastic"):
        if not isinstance(getattr(record, fact, None), bool):
            problems.append(f"{fact} must be true or false")
    if not isinstance(record.expressivity, str) or not record.expressivity.strip():
        problems.append("expressivity must be a non-empty string")
    if record.approximate is not None and (not isinstance(record.approximate, str)
                                           or not record.approximate.strip()):
        problems.append("approximate must be None or a non-empty string")
    seen: set[str] = set()
    for param in record.params:
        if not isinstance(param, Param):
            problems.append(f"params must be wlkit.Param objects, got {type(param).__name__}")
            continue
        where = f"param {param.name!r}"
        if param.name in seen:
            problems.append(f"{where} is declared twice")
        seen.add(param.name)
        if param.type not in _PARAM_TYPES:
            problems.append(f"{where}: type must be one of int, float, bool, str, list, dict")
        if not param.doc.strip():
            problems.append(f"{where} has no doc")
        if param.default is not REQUIRED:
            _, why = param.check(param.default)
            if why:
                problems.append(f"{where}: its default {param.default!r} {why}")
    problems += _factory_problems(record)
    if problems:
        raise AssertionError(f"{family} record {name!r}: " + "; ".join(problems))


def _factory_problems(record: ComponentRecord) -> list[str]:
    try:
        signature = inspect.signature(record.factory)
    except (TypeError, ValueError):
        return []  # builtins / C callables: nothing to inspect
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return []
    keywords = {p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                     inspect.Parameter.KEYWORD_ONLY)}
    missing = [p.name for p in record.params if p.name not in keywords]
    return [f"the factory does not accept the parameter(s) {', '.join(missing)}"] if missing \
        else []


def assert_conforms(family: str, name: str, params: Mapping[str, Any] | None = None, *,
                    registry: Any = None, separation: bool = False, seed: int = 0) -> None:
    """Run every check of ``wlkit check`` on one registered component; raise
    ``AssertionError`` listing the failures (invariance counts only when the record
    claims it). ``separation`` also embeds the classic WL pairs (slower)."""
    from wlkit.manager import get_registry
    from wlkit.tools.check import check_component, separation_failure

    registry = registry or get_registry()
    row = check_component(registry.entry(family, name), registry=registry, params=params,
                          separation=separation, seed=seed)
    if row["red"]:
        details = [f"{check}: {result['detail']}" for check, result in row["checks"].items()
                   if result["status"] == "fail"]
        why = separation_failure(row["separation"])
        if why:
            details.append(f"separation: {why}")
        raise AssertionError(f"{family} {name!r} does not conform:\n  " + "\n  ".join(
            details or [f"red, failed: {', '.join(row.get('failed', [])) or '?'}"]))


