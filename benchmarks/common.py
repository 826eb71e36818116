"""What every benchmark shares: threads and environment, alternating timing, peak memory,
machine description, tables and the result file.

One output format: each benchmark writes ``benchmarks/results/<name>.json`` with
``{"benchmark", "title", "command", "machine", "settings", "rows", "notes"}``; every row is
``{"case", "params", "sides": {side: {"median_ms", "times_s", "peak_mib"}}, "ratio",
"ratio_of", "goal", "meets_goal"}`` (``ratio`` = median of ``ratio_of[0]`` over median of
``ratio_of[1]``). :func:`check_result` validates that schema (the tests use it).

Timing: :func:`alternate` runs the sides in one process, one warm-up round each, then
``repeats`` rounds in rotating order (AB, BA, AB, ... for two sides), and keeps every time.
glibc's malloc thresholds are fixed high for the timings (:func:`steady_malloc`: no
``mmap``/``munmap`` and page faults per large tensor, as in a long-running training process).
Memory: :func:`peak_mib` (after the timings) switches large allocations to their own
mappings (``mmap`` threshold 64 KiB) and returns free heap memory to the OS
(``malloc_trim``), resets the kernel's resident-set high-water mark
(``/proc/self/clear_refs``, Linux >= 4.0), runs one call and reports ``VmHWM`` above the
resident set before it: the call's peak extra memory.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def reexec_with_env(threads: int) -> None:
    """Restart this process once with ``OMP_NUM_THREADS`` set (DGL's OpenMP kernels read it
    at start-up). A no-op when it is already set, as the runner does. Only for command-line
    use: it replaces the running process."""
    if os.environ.get("OMP_NUM_THREADS") == str(threads) or os.environ.get(
            "WLKIT_BENCH_REEXEC") == "1":
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WLKIT_BENCH_REEXEC": "1"}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def set_threads(threads: int) -> None:
    """torch's intra-op threads, and steady malloc thresholds for the timings."""
    import torch

    torch.set_num_threads(threads)
    steady_malloc()


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def steady_malloc() -> None:
    """Serve tensors up to 32 MiB from the heap and keep freed memory (glibc)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)


def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1, for reproducible figures)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed rounds per side (default: 7, 3 with --quick)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds per side")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer rounds")
    parser.add_argument("--tiny", action="store_true",
                        help="the smallest inputs, for testing the benchmark code itself")
    parser.add_argument("--no-memory", action="store_true", help="skip peak-memory figures")
    parser.add_argument("--out", type=Path, default=None,
                        help="result file (default benchmarks/results/<name>.json)")
    return parser


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    if args.repeats is None:
        args.repeats = 2 if args.tiny else 3 if args.quick else 7
    if args.tiny:
        args.warmup = min(args.warmup, 1)
    return args


# --- timing ---------------------------------------------------------------------------------


def timed(step: Callable[[], Any], sync: Callable[[], Any] | None = None) -> float:
    """Seconds one call takes; a call may return its own measured seconds (a float), e.g.
    the part of a Lightning fit between the start and the end of its epoch. ``sync`` (e.g.
    ``torch.cuda.synchronize``) runs before the clock starts and before it stops."""
    if sync is not None:
        sync()
    start = time.perf_counter()
    own = step()
    if sync is not None:
        sync()
    elapsed = time.perf_counter() - start
    return own if isinstance(own, float) else elapsed


def alternate(sides: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1,
              sync: Callable[[], Any] | None = None) -> dict[str, list[float]]:
    """Seconds per call of every side, rotating which side goes first each round."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(sides[name], sync))
    return times


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def peak_mib(step: Callable[[], Any]) -> float | None:
    """Peak resident memory of one call above the resident set before it (Linux), else None."""
    libc = _libc()
    gc.collect()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 64 << 10)
        libc.malloc_trim(0)
    try:
        before = _status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        steady_malloc()
        return None
    try:
        step()
        return max(0.0, (_status_kib("VmHWM") - before) / 1024)
    finally:
        steady_malloc()


def compare(case: str, sides: dict[str, Callable[[], Any]], args: argparse.Namespace,
            ratio_of: tuple[str, str] | None = None, goal: str | None = None,
            params: dict[str, Any] | None = None, per_call: int = 1) -> dict[str, Any]:
    """Time ``sides`` alternately (and their peak memory); one result row.

    ``ratio_of``: the two sides whose medians form the ratio (default: the first two; ``()``
    for none). ``per_call``: how many steps one call runs (times are reported per step).
    """
    times = alternate(sides, args.repeats, args.warmup)
    row: dict[str, Any] = {"case": case, "params": params or {}, "sides": {}}
    for name, values in times.items():
        per_step = [t / per_call for t in values]
        row["sides"][name] = {"median_ms": 1000 * statistics.median(per_step),
                              "times_s": per_step, "peak_mib": None}
    if not getattr(args, "no_memory", False):
        for name, step in sides.items():
            row["sides"][name]["peak_mib"] = peak_mib(step)
    names = list(sides)
    if ratio_of is None and len(names) > 1:
        ratio_of = (names[0], names[1])
    row["ratio_of"] = list(ratio_of) if ratio_of else None
    row["ratio"] = (row["sides"][ratio_of[0]]["median_ms"] / row["sides"][ratio_of[1]]["median_ms"]
                    if ratio_of else None)
    row["goal"] = goal
    row["meets_goal"] = meets(row["ratio"], goal)
    return row


def meets(value: float | None, goal: str | None) -> bool | None:
    """Whether ``value`` satisfies a goal such as ``"<= 1.05"`` or ``">= 3"``."""
    if value is None or not goal:
        return None
    op, bound = goal.split()
    return value <= float(bound) if op == "<=" else value >= float(bound)


# --- machine and results ----------------------------------------------------------------------


def _project_relative(arg: str) -> str:
    """``arg`` with the project folder removed, so results name no path of this machine."""
    return arg.replace(str(HERE.parent) + "/", "")


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """CPU model and count, memory, load average, versions, the command, the UTC time."""
    import torch

    info: dict[str, Any] = {
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(), "python": platform.python_version(),
        "cpu_model": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "command": " ".join([Path(sys.executable).name, *map(_project_relative, sys.argv)]),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        info["memory_gib"] = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["load_average"] = None
    versions = {}
    for module in ("torch", "dgl", "numpy", "lightning", "wlkit", "torch_geometric"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    info["versions"] = versions
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def result_path(name: str, out: Path | None) -> Path:
    return out if out is not None else RESULTS / f"{name}.json"


def write_result(name: str, title: str, args: argparse.Namespace, rows: list[dict],
                 settings: dict[str, Any] | None = None, notes: list[str] | None = None,
                 machine: dict[str, Any] | None = None, **extra: Any) -> Path:
    """Write the result file atomically; returns its path."""
    from wlkit import atomic_write_json

    machine = dict(machine or getattr(args, "machine", None) or machine_info(args.threads))
    machine["load_average_end"] = ([round(x, 2) for x in os.getloadavg()]
                                   if hasattr(os, "getloadavg") else None)
    payload = {"benchmark": name, "title": title, "command": machine["command"],
               "machine": machine,
               "settings": {"threads": args.threads, "repeats": args.repeats,
                            "warmup": args.warmup, "quick": args.quick, "tiny": args.tiny,
                            **(settings or {})},
               "rows": rows, "notes": notes or [], **extra}
    check_result(payload)
    path = result_path(name, args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, payload)
    return path


SIDE_KEYS = {"median_ms", "times_s", "peak_mib"}
ROW_KEYS = {"case", "params", "sides", "ratio", "ratio_of", "goal", "meets_goal"}
TOP_KEYS = {"benchmark", "title", "command", "machine", "settings", "rows", "notes"}
MACHINE_KEYS = {"time_utc", "cpu_model", "cpu_count", "load_average", "versions", "command",
                "torch_threads"}


def check_result(payload: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first place where ``payload`` breaks the schema."""
    missing = TOP_KEYS - payload.keys()
    if missing:
        raise ValueError(f"result lacks {sorted(missing)}")
    if MACHINE_KEYS - payload["machine"].keys():
        raise ValueError(f"machine lacks {sorted(MACHINE_KEYS - payload['machine'].keys())}")
    if not isinstance(payload["rows"], list):
        raise ValueError("rows is not a list")
    for i, row in enumerate(payload["rows"]):
        if ROW_KEYS - row.keys():
            raise ValueError(f"row {i} lacks {sorted(ROW_KEYS - row.keys())}")
        if not row["sides"]:
            raise ValueError(f"row {i} has no sides")
        for side, values in row["sides"].items():
            if SIDE_KEYS - values.keys():
                raise ValueError(f"row {i} side {side} lacks {sorted(SIDE_KEYS - values.keys())}")
            if not values["median_ms"] >= 0 or not values["times_s"]:
                raise ValueError(f"row {i} side {side}: no timing")
        if row["ratio_of"] is not None:
            if any(s not in row["sides"] for s in row["ratio_of"]):
                raise ValueError(f"row {i}: ratio_of names unknown sides")
            if not (isinstance(row["ratio"], float) and row["ratio"] > 0):
                raise ValueError(f"row {i}: ratio is not a positive number")


# --- printing ---------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    out = ["  ".join(h.rjust(w) for h, w in zip(headers, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def rows_table(rows: list[dict]) -> str:
    """The standard table: per row, every side's median and peak memory, the ratio, goal."""
    lines = []
    for row in rows:
        sides = "  ".join(f"{name} {fmt(v['median_ms'])} ms"
                          + (f" ({fmt(v['peak_mib'], 1)} MiB)" if v["peak_mib"] is not None
                             else "")
                          for name, v in row["sides"].items())
        ratio = (f"  {row['ratio_of'][0]}/{row['ratio_of'][1]} = {row['ratio']:.3f}"
                 if row["ratio"] is not None else "")
        goal = ""
        if row["goal"]:
            goal = f"  goal {row['goal']}: {'yes' if row['meets_goal'] else 'NO'}"
        lines.append(f"  {row['case']}: {sides}{ratio}{goal}")
    return "\n".join(lines)


def header(title: str, args: argparse.Namespace) -> None:
    """Print the title and settings; records the machine (and load) at the start in ``args``."""
    args.machine = machine_info(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{title}\n  {args.threads} thread(s), median of {args.repeats} alternating rounds "
          f"after {args.warmup} warm-up, load average {load:.2f}", flush=True)
