"""benchmarks/gpu_check.py: the no-CUDA exit, the whole check as a CPU dry run (table and
result file), and the comparison that decides the verdict (it must be able to fail)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import common, gpu_check
from tests.conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
# two shipped pipelines whose data is generated (the classic WL pairs); RNI draws noise in
# eval mode, so its zero difference needs gpu_check.same_draws
GENERATED = ["separate_gin", "separate_rni"]
MISSING = "ogbg-molhiv_gin"  # its data is under an empty folder below: skipped


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every data variable gpu_check sets, set here first (restored after the test), at an
    empty folder, offline."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("WLKIT_SHARED_DATA", str(empty))
    monkeypatch.setenv("WLKIT_OFFLINE", "1")
    for var, part in gpu_check.DATA_VARS.items():
        monkeypatch.setenv(var, str(empty / part))
    return empty


def rows_by_name(out: str) -> dict[str, list[str]]:
    """The final table's lines, split into cells, by pipeline."""
    table = out.split("pipeline ", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    cells = [[c.strip() for c in line.split(" | ")] for line in table]
    return {c[0]: c for c in cells}


def test_without_cuda_it_says_so_and_exits_zero(tmp_path: Path) -> None:
    default = common.RESULTS / "gpu_check.json"
    before = default.stat().st_mtime if default.exists() else None
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    # -X importtime lists every module the script imports on stderr
    done = subprocess.run([sys.executable, "-X", "importtime", str(SCRIPT)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no CUDA device" in done.stdout
    assert "GPU check:" not in done.stdout  # no work started
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "torch" in imported
    assert not imported & {"dgl", "lightning", "wlkit"}  # nothing heavy beyond torch
    # without --out nothing is written (a GPU run's result in the repository stays)
    assert (default.stat().st_mtime if default.exists() else None) == before


def test_without_cuda_and_out_a_result_without_rows(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    # as `python -m benchmarks` calls it: the runner wants a result file
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--threads", "1", "--out", str(out)]) == 0
    assert "no CUDA device" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    common.check_result(payload)
    assert payload["rows"] == [] and "no CUDA device" in payload["skipped"]


def test_cpu_dry_run_table_and_result(tmp_path: Path, data_env: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "result.json"
    code = gpu_check.main(["--device", "cpu", "--steps", "2", "--tiny", "--threads", "1",
                           "--pipelines", ",".join([*GENERATED, MISSING]), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert printed.splitlines()[-1] == f"results: {out}"
    rows = rows_by_name(printed)
    for name in GENERATED:
        pipeline, steps, seconds, rel, verdict = rows[name]
        assert (steps, verdict) == ("2/2", "ok")
        assert float(seconds) > 0
        assert float(rel) == 0.0  # the same device: identical, RNI's noise included
    assert rows[MISSING][1] == "-" and rows[MISSING][4].startswith("skipped: ")
    gin = rows["GIN step: wlkit vs PyG"]
    assert gin[1] == "2/2"
    pyg = gpu_check.find_spec("torch_geometric") is not None
    assert gin[4].startswith("ok (wlkit/PyG") if pyg else gin[4] == "PyG not installed"

    payload = json.loads(out.read_text())
    common.check_result(payload)
    assert payload["benchmark"] == "gpu_check" and payload["verdict"] == "ok"
    assert payload["settings"]["device"] == "cpu"
    assert payload["settings"]["rtol"] == gpu_check.RTOL
    assert [r["case"] for r in payload["rows"]] == [*GENERATED, "GIN step: wlkit vs PyG"]
    for row in payload["rows"][:2]:
        assert row["params"]["steps_ok"] == 2 and row["params"]["verdict"] == "ok"
        assert len(row["sides"]["cpu"]["times_s"]) == 1  # the first step is left out
    checks = {c["pipeline"]: c for c in payload["checks"]}
    assert checks[MISSING]["verdict"].startswith("skipped: ogbg-molhiv")


def test_a_difference_beyond_the_tolerance_fails_the_run(
        tmp_path: Path, data_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    real = gpu_check.max_rel_diff
    # a "device" whose outputs are 0.1% off, as a wrong kernel would be
    monkeypatch.setattr(gpu_check, "max_rel_diff",
                        lambda a, b, **kw: real(a * (1 + 1e-3) + 1e-3, b, **kw))
    out = tmp_path / "result.json"
    code = gpu_check.main(["--device", "cpu", "--steps", "1", "--tiny", "--threads", "1",
                           "--no-gin", "--pipelines", "separate_gin", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    assert rows_by_name(printed)["separate_gin"][4].startswith("FAIL: device output differs")
    assert json.loads(out.read_text())["verdict"] == "FAIL"


def test_comparison_helper() -> None:
    base = torch.tensor([[10.0, -3.0], [0.0, 1e-6]])
    assert gpu_check.max_rel_diff(base, base) == 0.0
    # relative where large: 1e-5 of 10 passes, 1e-3 of 10 does not
    assert gpu_check.verdict_for(gpu_check.max_rel_diff(base * (1 + 1e-5), base)) == "ok"
    beyond = gpu_check.max_rel_diff(base * (1 + 1e-3), base)
    assert beyond == pytest.approx(1e-3, rel=1e-3)  # float32 rounding of the input
    assert gpu_check.verdict_for(beyond).startswith("FAIL")
    # absolute near zero: 5e-5 off an exact zero is within atol 1e-4; 5e-4 is not
    near = base.clone()
    near[1, 0] = 5e-5
    assert gpu_check.verdict_for(gpu_check.max_rel_diff(near, base)) == "ok"
    near[1, 0] = 5e-4
    assert gpu_check.verdict_for(gpu_check.max_rel_diff(near, base)).startswith("FAIL")
    # non-finite values, other shapes, nothing compared
    bad = base.clone()
    bad[0, 0] = float("nan")
    assert gpu_check.max_rel_diff(bad, base) == float("inf")
    assert gpu_check.max_rel_diff(base[:1], base) == float("inf")
    assert gpu_check.verdict_for(None).startswith("FAIL")
    assert not gpu_check.failed([{"verdict": "ok"}, {"verdict": "skipped: no data"},
                                 {"verdict": "PyG not installed"}])
    assert gpu_check.failed([{"verdict": "ok"}, {"verdict": "FAIL: 1 of 2 steps ran"}])


def test_same_draws_repeats_unseeded_draws_and_keeps_explicit_generators() -> None:
    def draws() -> list[torch.Tensor]:
        return [torch.rand(3), torch.randn(2, 2, device="cpu"), torch.randint(0, 9, (4,)),
                torch.randperm(5)]

    original = torch.rand
    with gpu_check.same_draws(7):
        first = draws()
    with gpu_check.same_draws(7):
        second = draws()
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert torch.rand is original  # restored
    with gpu_check.same_draws(7):
        mine = torch.rand(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(mine, torch.rand(3, generator=torch.Generator().manual_seed(1)))


def test_step_timer_leaves_out_the_first_step_and_pipelines_default_to_all() -> None:
    timer = gpu_check.StepTimer(None)
    assert timer.per_step() is None
    timer.times = [5.0, 1.0, 3.0]
    assert timer.per_step() == 2.0
    shipped = sorted((ROOT / "pipelines").glob("*.yaml"))
    assert gpu_check.resolve_pipelines(None) == shipped and len(shipped) > 40
    assert gpu_check.resolve_pipelines("separate_gin, x/y.yaml") == [
        ROOT / "pipelines" / "separate_gin.yaml", Path("x/y.yaml")]
