"""Device audit: host–device synchronisation points and stray-device tensors in one
training step of a component, measured on any device (the CPU included).

A GPU training step runs at full speed only when the host never waits for the device: a
``.item()``, a ``bool()`` of a tensor, a boolean mask or a ``torch.unique`` makes the host
stop until every queued kernel has finished (the result decides what runs next, or the
shape of the next tensor). A tensor created without the device of its inputs
(``torch.arange(n)`` in ``forward``) lives on the CPU and is copied over on every step.
Neither shows on the CPU, where the step is correct and fast, so the audit counts them
there, from the calls themselves, as they would happen on a GPU::

    from wlkit.testing import aggregator_probe, assert_device_audit, audit_probe

    probe = aggregator_probe(MyAggregator, dim=8)
    print(audit_probe(probe).format())        # counts per phase, each event with its line
    assert_device_audit(probe)                # no sync, no stray tensor in a step

:func:`audit_probe` runs one training step of a probe (forward in training mode, a loss,
backward) under :class:`DeviceAudit`; a policy's ``collate`` is its own phase (it runs in
the data loader's workers, on the CPU, so its syncs cost nothing, but its tensors must
still follow the input's device), an encoding's ``compute`` is not audited (precomputed
and cached per graph), its ``input_module`` is. :func:`audit_step` audits any callable.

What counts as a **sync** (a :class:`TorchFunctionMode` for the Python calls, a
:class:`TorchDispatchMode` for what runs inside torch and in ``backward``):
``Tensor.item``, ``.tolist``, ``.cpu``, ``.numpy``, ``numpy.asarray``, ``.to("cpu")``;
``bool``, ``int``, ``float``, ``operator.index``, ``repr`` and ``format`` of a tensor;
``torch.equal``; ops whose output shape depends on the values: ``nonzero``, ``argwhere``,
one-argument ``torch.where``, ``masked_select``, ``unique`` (every variant), ``bincount``,
``repeat_interleave`` without ``output_size``, indexing or assigning with a boolean mask;
and scalar reads inside torch
(``aten._local_scalar_dense``, e.g. a tensor used as a size). What counts as **stray**: a
factory call (``torch.zeros``, ``arange``, ``tensor``, ``randn``, ``as_tensor`` of a list, ...)
without ``device=``, or with a device other than the audited inputs'. ``*_like`` and
``Tensor.new_*`` follow their argument and are fine.

Consecutive reads of values (``.item()``, ``int()``, scalar reads) on one line with no op
between them count once: the first wait drains the queue (torch's argument parser reads a
tensor used as a size several times).

Limits: ``.to(torch.device("cpu"))`` is counted only when the audited inputs are not on the
CPU (on a CPU audit it cannot be told from the right idiom ``.to(x.device)``; a literal
``.to("cpu")`` is always counted), so DGL's own ``.to(cpu)`` calls show only on a GPU.
``torch.from_numpy`` does not reach torch's modes (not counted). Work DGL does in C (e.g.
``dgl.batch``, ``in_degrees``) is not seen, only its Python side (e.g. DGL's own
``.item()`` calls, reported with ``via`` naming the DGL frame). Python-level calls inside a
custom ``autograd.Function.backward`` are seen only through the ops they dispatch (a
``.tolist()`` there is missed, an ``.item()`` is not).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dgl
import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode, resolve_name
from torch.utils._python_dispatch import TorchDispatchMode

from wlkit.testing.probes import (
    Graphs,
    Probe,
    _cases,
    _EncodingProbe,
    _PolicyProbe,
    _randn,
    _to_device,
)

PHASES = ("collate", "forward", "backward")
"""The phases of an audited step, in order (``collate`` only for policies)."""

STEP_PHASES = ("forward", "backward")
"""The phases whose syncs stall a training step on a GPU (collate runs in the loader)."""

# ------------------------------------------------------------------------ what counts

_T = torch.Tensor
# Python calls that read a tensor's values on the host (name shown in reports).
_SYNC_FUNCTIONS: dict[Any, str] = {
    _T.item: ".item()", _T.tolist: ".tolist()", _T.cpu: ".cpu()", _T.numpy: ".numpy()",
    _T.__bool__: "bool(tensor)", _T.__int__: "int(tensor)", _T.__float__: "float(tensor)",
    _T.__index__: "index(tensor)", _T.nonzero: "nonzero", torch.nonzero: "nonzero",
    torch.argwhere: "argwhere", _T.argwhere: "argwhere", torch.masked_select: "masked_select",
    _T.masked_select: "masked_select", torch.unique: "unique", _T.unique: "unique",
    torch.unique_consecutive: "unique_consecutive",
    _T.unique_consecutive: "unique_consecutive", torch.bincount: "bincount",
    _T.bincount: "bincount", torch.equal: "torch.equal", _T.equal: "torch.equal",
    torch.allclose: "allclose", _T.allclose: "allclose",
    _T.__array__: "numpy.asarray(tensor)", _T.__repr__: "repr(tensor)",
    _T.__format__: "format(tensor)",
}
# Factories whose result lands on the default device unless told otherwise.
_FACTORIES = {
    torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.range,
    torch.linspace, torch.logspace, torch.eye, torch.tensor, torch.as_tensor, torch.asarray,
    torch.scalar_tensor, torch.rand, torch.randn, torch.randint, torch.randperm,
    torch.empty_strided, torch.tril_indices, torch.triu_indices, torch.normal,
}
# as_tensor / asarray / normal of tensors keep their device: only data from the host counts.
_KEEP_TENSOR_DEVICE = {torch.as_tensor, torch.asarray, torch.normal}

_aten = torch.ops.aten
# Ops that read values on the host, or whose output shape depends on the values.
_SYNC_OPS: dict[Any, str] = {
    _aten._local_scalar_dense.default: "scalar read",
    _aten.equal.default: "torch.equal",
    _aten.is_nonzero.default: "bool(tensor)",
    _aten.nonzero.default: "nonzero",
    _aten.masked_select.default: "masked_select",
    _aten._unique.default: "unique",
    _aten._unique2.default: "unique",
    _aten.unique_dim.default: "unique",
    _aten.unique_consecutive.default: "unique_consecutive",
    _aten.unique_dim_consecutive.default: "unique_consecutive",
    _aten.bincount.default: "bincount",
}
# Reads of a value already computed (no kernel of their own).
_READS = {"scalar read", ".item()", "bool(tensor)", "int(tensor)", "float(tensor)",
          "index(tensor)"}
_REPEAT_INTERLEAVE = {_aten.repeat_interleave.Tensor, _aten.repeat_interleave.self_Tensor}
_INDEX_OPS = {_aten.index.Tensor, _aten.index_put.default, _aten.index_put_.default,
              _aten._index_put_impl_.default}
_COPIES = {_aten._to_copy.default, _aten.copy_.default}

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_DGL_DIR = os.path.dirname(dgl.__file__) + os.sep
_HERE = __file__


@dataclasses.dataclass(frozen=True)
class AuditEvent:
    """One sync or stray tensor.

    Attributes
    ----------
    kind : str
        ``"sync"`` or ``"stray"``.
    op : str
        What happened (``".item()"``, ``"boolean-mask indexing"``, ``"torch.arange"``).
    phase : str
        ``"collate"``, ``"forward"`` or ``"backward"``.
    where : str
        ``module:line (function)`` of the innermost frame outside torch and DGL.
    via : str or None
        The innermost DGL frame, when the call came from DGL's Python code.
    """

    kind: str
    op: str
    phase: str
    where: str
    via: str | None = None

    def __str__(self) -> str:
        via = f" via {self.via}" if self.via else ""
        return f"{self.phase}: {self.kind} {self.op} at {self.where}{via}"


def _frame_label(frame: Any) -> str:
    module = frame.f_globals.get("__name__", "?")
    return f"{module}:{frame.f_lineno} ({frame.f_code.co_name})"


def _caller() -> tuple[str, str | None]:
    """Where the current torch call came from: the innermost frame outside torch, DGL and
    this module (and the innermost DGL frame passed on the way, if any).

    The walk stops at the audit's own harness (this module again, after leaving its mode
    handlers): what backward runs has no component frame above it, only the harness's
    ``torch.autograd.backward``; such an event is placed at its DGL frame, or at
    ``autograd``."""
    frame = sys._getframe(1)
    via = None
    left_handlers = False
    while frame is not None:
        path = frame.f_code.co_filename
        if path == _HERE:
            if left_handlers:
                break
        else:
            left_handlers = True
            if path.startswith(_DGL_DIR):
                via = via or _frame_label(frame)
            elif not (path.startswith(_TORCH_DIR) or path.startswith("<")):
                return _frame_label(frame), via
        frame = frame.f_back
    return (via, None) if via else ("autograd", None)


def _device_type(device: Any) -> str | None:
    if device is None:
        return None
    if isinstance(device, int):  # a bare index means a CUDA device
        return "cuda"
    return torch.device(device).type


class DeviceAudit:
    """Record syncs and stray tensors while active (a context manager).

    Only calls made inside :meth:`phase` are recorded, so a harness can run its own setup
    (building inputs, the loss) under the same modes without counting it.

    Parameters
    ----------
    device : str or torch.device
        The device of the audited inputs: a factory call must name it (or a device of the
        same type).

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(3)
    >>> with DeviceAudit() as audit, audit.phase("forward"):
    ...     n = int(x.sum())
    ...     y = torch.zeros(n)
    >>> [(e.kind, e.op) for e in audit.events]
    [('sync', 'int(tensor)'), ('stray', 'torch.zeros')]
    """

    def __init__(self, device: str | torch.device = "cpu"):
        self.device_type = torch.device(device).type
        self.events: list[AuditEvent] = []
        self._phase: str | None = None
        self._quiet = 0  # > 0 while a call already counted runs (its inner ops are not)
        self._work = 0  # ops dispatched that are no event: consecutive reads wait once
        self._last: tuple[Any, ...] | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> DeviceAudit:
        # the function mode outside: it sees the Python call first and can silence the
        # dispatch mode for the ops that call dispatches
        self._stack.enter_context(_FunctionAudit(self))
        self._stack.enter_context(_DispatchAudit(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record what runs inside as phase ``name``."""
        before, self._phase = self._phase, name
        try:
            yield
        finally:
            self._phase = before

    def record(self, kind: str, op: str) -> None:
        if self._phase is None or self._quiet:
            return
        where, via = _caller()
        # Reads of the same line with no device work between them are one wait (the first
        # drains the queue): a tensor used as a size is read two to five times by torch's
        # argument parser, once by the user.
        key = (kind, self._phase, where, via, self._work)
        if kind == "sync" and op in _READS and key == self._last:
            return
        self._last = key if op in _READS else None
        if op not in _READS:
            self._work += 1  # a data-dependent op launches its own kernel
        self.events.append(AuditEvent(kind, op, self._phase, where, via))

    def counts(self, kind: str) -> dict[str, int]:
        """Events of ``kind`` per phase (every phase of :data:`PHASES`, zeros included)."""
        found = Counter(e.phase for e in self.events if e.kind == kind)
        return {p: found.get(p, 0) for p in PHASES} | {
            p: n for p, n in found.items() if p not in PHASES}

    # ------------------------------------------------------------------ classification

    def on_function(self, func: Any, args: tuple, kwargs: Mapping[str, Any]) -> bool:
        """Record a Python-level call; True when it is a sync (its ops are then silenced)."""
        name = _SYNC_FUNCTIONS.get(func)
        if name is None and func is _T.to and _to_host(args, kwargs, self.device_type):
            name = '.to("cpu")'
        if name is not None:
            self.record("sync", name)
            return True
        if func in _FACTORIES and self._stray(func, args, kwargs):
            self.record("stray", resolve_name(func) or getattr(func, "__name__", "factory"))
        return False

    def _stray(self, func: Any, args: tuple, kwargs: Mapping[str, Any]) -> bool:
        if func in _KEEP_TENSOR_DEVICE and any(isinstance(a, Tensor) for a in (
                *args, *kwargs.values())):
            return "device" in kwargs and _device_type(kwargs["device"]) != self.device_type
        # no device= (the default device, the CPU) or another device than the inputs'
        return _device_type(kwargs.get("device")) != self.device_type

    def on_op(self, func: Any, args: tuple, kwargs: Mapping[str, Any]) -> None:
        """Record an op that reached the dispatcher."""
        name = _SYNC_OPS.get(func)
        if name is None:
            if func in _REPEAT_INTERLEAVE:
                if kwargs.get("output_size") is None:
                    name = "repeat_interleave without output_size"
            elif func in _INDEX_OPS:
                indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
                if any(isinstance(i, Tensor) and i.dtype in (torch.bool, torch.uint8)
                       for i in indices or ()):
                    name = "boolean-mask indexing"
            elif func in _COPIES and _device_copy_to_host(func, args, kwargs):
                name = "copy to the host"
        if name is not None:
            self.record("sync", name)
        elif not self._quiet:
            self._work += 1


def _to_host(args: tuple, kwargs: Mapping[str, Any], device_type: str) -> bool:
    """Whether ``Tensor.to(*args, **kwargs)`` moves to the CPU: a literal ``"cpu"``, or a
    CPU ``torch.device`` while the inputs are elsewhere (on a CPU audit ``.to(x.device)``
    is the right idiom and is not counted)."""
    for target in [*args[1:], kwargs.get("device")]:
        if isinstance(target, str):
            try:
                if torch.device(target).type == "cpu":
                    return True
            except RuntimeError:
                continue
        elif isinstance(target, torch.device) and target.type == "cpu" != device_type:
            return True
    return False


def _device_copy_to_host(func: Any, args: tuple, kwargs: Mapping[str, Any]) -> bool:
    if func is _aten._to_copy.default:
        src, device = args[0], kwargs.get("device")
        return (isinstance(src, Tensor) and src.device.type != "cpu" and device is not None
                and torch.device(device).type == "cpu")
    dst, src = args[0], args[1]  # copy_(self, src): src -> self
    return (isinstance(dst, Tensor) and isinstance(src, Tensor)
            and dst.device.type == "cpu" and src.device.type != "cpu")


class _FunctionAudit(TorchFunctionMode):
    def __init__(self, audit: DeviceAudit):
        super().__init__()
        self.audit = audit

    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: Mapping[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if not self.audit.on_function(func, args, kwargs):
            return func(*args, **kwargs)
        self.audit._quiet += 1
        try:
            return func(*args, **kwargs)
        finally:
            self.audit._quiet -= 1


class _DispatchAudit(TorchDispatchMode):
    def __init__(self, audit: DeviceAudit):
        super().__init__()
        self.audit = audit

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: Mapping[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        self.audit.on_op(func, args, kwargs)
        return func(*args, **kwargs)


# ------------------------------------------------------------------------------ reports


@dataclasses.dataclass
class AuditReport:
    """The result of one audited step.

    Attributes
    ----------
    name : str
        What was audited (``"aggregator pna"``).
    syncs, stray : dict
        Events per phase (``collate``, ``forward``, ``backward``).
    events : list of AuditEvent
        Every event, in order.
    note : str
        Why a part was not audited (e.g. an encoding without a model-side module).
    """

    name: str
    syncs: dict[str, int]
    stray: dict[str, int]
    events: list[AuditEvent]
    note: str = ""

    @property
    def step_syncs(self) -> int:
        """Syncs in forward + backward: what stalls a GPU step."""
        return sum(self.syncs.get(p, 0) for p in STEP_PHASES)

    @property
    def step_stray(self) -> int:
        """Stray tensors created in forward, backward or collate."""
        return sum(self.stray.values())

    def where(self, kind: str | None = None) -> list[tuple[str, int]]:
        """``(event summary, count)`` per distinct event, most frequent first."""
        found = Counter(str(e) for e in self.events if kind in (None, e.kind))
        return found.most_common()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "syncs": dict(self.syncs), "stray": dict(self.stray),
                "step_syncs": self.step_syncs, "step_stray": self.step_stray,
                "note": self.note,
                "events": [{"event": text, "count": n} for text, n in self.where()]}

    def format(self) -> str:
        """The counts, then each distinct event with its count and source line."""
        lines = [f"{self.name}: {self.step_syncs} sync(s) per step (forward "
                 f"{self.syncs.get('forward', 0)}, backward {self.syncs.get('backward', 0)}), "
                 f"{self.step_stray} stray tensor(s); collate syncs "
                 f"{self.syncs.get('collate', 0)}" + (f"; {self.note}" if self.note else "")]
        lines += [f"  {n} x {text}" for text, n in self.where()]
        return "\n".join(lines)


def audit_step(forward: Callable[[Any], Tensor], *, collate: Callable[[], Any] | None = None,
               device: str | torch.device = "cpu", seed: int = 0,
               name: str = "step") -> AuditReport:
    """Audit one step: ``collate()`` (optional), ``out = forward(batch)`` (``batch`` is what
    ``collate`` returned, moved to ``device``, or None), a loss (a fixed random weighting of
    ``out``) and its backward.

    Parameters
    ----------
    forward : callable
        Runs the forward pass; must return a tensor (a differentiable one, for backward).
    collate : callable, optional
        Builds the batch (audited as phase ``collate``).
    device : str or torch.device
        The device of the inputs (factory calls must name it).
    seed : int
        Seed of torch's generator for the step (restored afterwards) and of the loss.
    name : str
        Name of the report.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with DeviceAudit(device) as audit:
            batch = None
            if collate is not None:
                with audit.phase("collate"):
                    batch = collate()
                batch = _to_device(batch, torch.device(device))
            with audit.phase("forward"):
                out = forward(batch)
            if not isinstance(out, Tensor):
                raise AssertionError(f"{name}: forward returned {type(out).__name__}, "
                                     "expected a tensor")
            if out.requires_grad:
                weights = _randn(tuple(out.shape), seed).to(out.device, out.dtype)
                loss = (out * weights).sum()
                with audit.phase("backward"):
                    # torch.autograd.backward, not Tensor.backward: the function mode would
                    # see Tensor.backward as one call and miss what runs inside
                    torch.autograd.backward([loss])
    return AuditReport(name, audit.counts("sync"), audit.counts("stray"), list(audit.events))


@contextlib.contextmanager
def _training(probe: Probe) -> Iterator[None]:
    module = probe.module
    before = module.training if module is not None else None
    if module is not None:
        module.train(True)
    try:
        yield
    finally:
        if module is not None:
            module.train(bool(before))


def audit_probe(probe: Probe, graphs: Graphs = None, *, seed: int = 0,
                device: str | torch.device | None = None) -> AuditReport:
    """Audit one training step of a probe's component on one batch of ``graphs``.

    The graphs (default: :func:`~wlkit.testing.graph_zoo`, all of them in one batch) get the
    probe's random inputs, float inputs require gradients, the module is in training mode.
    With ``device`` the weights and the batch are moved there first (and back afterwards);
    by default the graphs' device. An encoding's ``compute`` and a policy's ``prepare`` run
    before the audit (they are precomputed per graph); a policy's ``collate`` is audited as
    phase ``collate``.

    Returns
    -------
    AuditReport
        Named ``"<family> <name>"``.
    """
    cases = _cases(graphs)
    attached = [probe.attach(g, seed + 7919 * i) for i, (_, g) in enumerate(cases)]
    batch = dgl.batch(attached)
    target = torch.device(device) if device is not None else batch.device
    batch = batch.to(target)
    for frame, key in probe.input_keys():
        data = batch.ndata if frame == "ndata" else batch.edata
        data[key] = data[key].detach().clone().requires_grad_(True)
    name = f"{probe.family or type(probe).__name__} {probe.name}"
    module = probe.module
    home = next((t.device for t in module.parameters()), None) if module is not None else None
    collate: Callable[[], Any] | None = None
    note = ""
    if isinstance(probe, _PolicyProbe):
        policy = probe.policy
        graphs_cpu = dgl.unbatch(batch.cpu())
        prepared = [policy.prepare(g) if policy.has_prepare else {} for g in graphs_cpu]

        def collate() -> Any:
            return policy.collate(graphs_cpu, prepared)

        def forward(policy_batch: Any) -> Tensor:
            return probe.component(batch, policy_batch)
    elif isinstance(probe, _EncodingProbe):
        with torch.no_grad():
            pe = probe.compute(batch)
        if probe.input_module is None:
            note = "no model-side module (compute() is precomputed, not audited)"

            def forward(_: Any) -> Tensor:
                return pe
        else:
            weight = next(probe.input_module.parameters(), None)
            pe = pe if weight is None else pe.to(weight.dtype)

            def forward(_: Any) -> Tensor:
                return probe.input_module(batch, pe)
    else:
        def forward(_: Any) -> Tensor:
            return probe(batch)
    try:
        if module is not None:
            module.to(target)
        with _training(probe):
            report = audit_step(forward, collate=collate, device=target, seed=seed, name=name)
    finally:
        if module is not None and home is not None:
            module.to(home)
    report.note = note
    return report


def audit_component(family: str, name: str, params: Mapping[str, Any] | None = None, *,
                    registry: Any = None, graphs: Graphs = None, seed: int = 0,
                    device: str | torch.device | None = None) -> AuditReport:
    """:func:`audit_probe` of a registered component with its default parameters (updated
    by ``params``), built under ``seed``; graphs it refuses (with a
    :class:`wlkit.WlkitError`, see :func:`~wlkit.testing.usable_graphs`) are left out."""
    from wlkit.testing.assertions import usable_graphs
    from wlkit.testing.probes import probe_for

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = probe_for(family, name, params, registry)
        usable, _ = usable_graphs(probe, graphs, seed=seed)
        return audit_probe(probe, usable, seed=seed, device=device)


def assert_device_audit(probe: Probe | AuditReport, graphs: Graphs = None, *,
                        syncs: int = 0, stray: int = 0, seed: int = 0) -> AuditReport:
    """A training step of the probe has at most ``syncs`` host syncs (forward + backward)
    and at most ``stray`` stray-device tensors (any phase).

    A component with a documented, unavoidable count (e.g. one sync per tree level) passes
    its count here, so that it cannot grow unnoticed. Takes a probe (audited with
    :func:`audit_probe`) or a report.

    Raises
    ------
    AssertionError
        With every event over the budget and the line it came from.
    """
    report = probe if isinstance(probe, AuditReport) else audit_probe(probe, graphs, seed=seed)
    problems = []
    if report.step_syncs > syncs:
        problems.append(f"{report.step_syncs} host sync(s) per step, at most {syncs} allowed")
    if report.step_stray > stray:
        problems.append(f"{report.step_stray} tensor(s) created without the input's device, "
                        f"at most {stray} allowed")
    if problems:
        raise AssertionError(f"{report.name}: " + "; ".join(problems) + "\n"
                             + "\n".join(f"  {n} x {text}" for text, n in report.where())
                             + "\n  hint: pass output_size= / device=x.device, keep values on"
                             " the device, or declare the count (syncs=, stray=)")
    return report
