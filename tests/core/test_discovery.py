"""Plugin discovery through real entry points, as a user's installed packages are found.

The example package ``examples/wlkit-plugin-example`` is installed into a temporary folder
(``pip install --target``, offline, never into the venv) and the ``wlkit`` command runs in
subprocesses with ``PYTHONPATH`` pointing there, so wlkit finds it by its ``wlkit`` entry point.
Broken plugins are tiny distributions written on the fly: a ``<name>-<version>.dist-info``
folder (METADATA + entry_points.txt) next to one module.

Every ``wlkit`` subprocess pays for importing torch and DGL, so the module-scoped
``cli`` fixture starts all command lines at once on a small thread pool and each test reads
the outcome of its own. The in-process tests at the end cover the same rules through
:func:`wlkit.registered_plugin` and a private :class:`wlkit.manager.PluginHost`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import wlkit
from wlkit import PluginError, get_registry, registered_plugin
from wlkit.manager import PluginHost, PluginWarning

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "wlkit-plugin-example"
EXAMPLE_DIST, EXAMPLE_VERSION, EXAMPLE_ENTRY_POINT = "wlkit-plugin-example", "0.1.0", "example"
EXAMPLE_COMPONENTS = {("aggregator", "example_softmax"), ("readout", "sum_max"),
                      ("positional_encoding", "degree_onehot"),
                      ("subgraph_policy", "marked_copies")}
PLUGIN_ENV = ("WLKIT_DISABLE_PLUGIN_AUTOLOAD", "WLKIT_PLUGINS", "WLKIT_STRICT_PLUGINS")


# --- fixture distributions --------------------------------------------------------------


def fake_dist(root: Path, dist: str, code: str, *, module: str | None = None,
              entry_point: str | None = None, version: str = "0.1") -> Path:
    """Write an installed distribution ``dist`` with one plugin module into ``root/dist``.

    Returns the folder to put on ``PYTHONPATH``.
    """
    module = module or dist.replace("-", "_")
    folder = root / dist
    info = folder / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[wlkit]\n{entry_point or module} = {module}\n")
    (folder / f"{module}.py").write_text(textwrap.dedent(code))
    return folder


def aggregator_plugin(name: str, more: str = "") -> str:
    """Source of a plugin module registering one working aggregator ``name``, plus ``more``."""
    return textwrap.dedent(f"""
        import dgl
        from wlkit import Aggregator, AggregatorRecord, hookimpl

        class Plain(Aggregator):
            def reduce(self, graph, messages):
                return dgl.ops.copy_e_sum(graph, messages)

        @hookimpl
        def wlkit_aggregators():
            return [AggregatorRecord(name={name!r}, factory=Plain, summary="fixture")]
        """) + textwrap.dedent(more)


IMPORT_ERROR = """
    raise ImportError("wlkit-fixture needs libfrobnicate >= 2, which is not installed")
    """

# Each broken plugin below also provides one working component, which must still be listed.
HOOK_RAISES = """
    from wlkit import Readout, ReadoutRecord, hookimpl

    class Nothing(Readout):
        def pool(self, graph, feats):
            return feats

    @hookimpl
    def wlkit_aggregators():
        raise RuntimeError("kaboom in wlkit_aggregators")

    @hookimpl
    def wlkit_readouts():
        return [ReadoutRecord(name="survivor_readout", factory=Nothing, summary="fixture")]
    """

RETURNS_DICT = aggregator_plugin("survivor_dict", """
    @hookimpl
    def wlkit_readouts():
        return {"name": "not_a_list"}
    """)

RETURNS_WRONG_RECORD = aggregator_plugin("survivor_record", """
    @hookimpl
    def wlkit_readouts():
        return [AggregatorRecord(name="misfiled", factory=Plain, summary="fixture")]
    """)

MISSPELT_HOOK = """
    from wlkit import hookimpl

    @hookimpl
    def wlkit_aggregator():  # the hook is wlkit_aggregators
        return []
    """

# wlkit_commands: one plugin adds a command, one takes a built-in's name, one raises
HELLO_COMMAND = """
    from wlkit import WlkitError, hookimpl

    def hello(args):
        if args.name == "nobody":
            raise WlkitError("nobody to greet\\n    hint: pass --name")
        print(f"hello {args.name} from a plugin")
        return 0

    @hookimpl
    def wlkit_commands(subparsers):
        parser = subparsers.add_parser("hello", help="greet from a plugin")
        parser.add_argument("--name", default="world")
        parser.set_defaults(handler=hello)
    """

TAKES_RUN = """
    from wlkit import hookimpl

    @hookimpl
    def wlkit_commands(subparsers):
        subparsers.add_parser("mine", help="listed if added").set_defaults(handler=lambda a: 0)
        subparsers.add_parser("run").set_defaults(handler=lambda args: 0)
    """

COMMANDS_RAISE = """
    from wlkit import hookimpl

    @hookimpl
    def wlkit_commands(subparsers):
        subparsers.add_parser("half", help="listed if added").set_defaults(handler=lambda a: 0)
        raise RuntimeError("kaboom in wlkit_commands")
    """

TWIN_PIPELINE = """\
name: twins
dataset: wl_pairs
model: {layer: gin, aggregator: twin, num_layers: 1, hidden: 4, readout: sum}
trainer: {accelerator: cpu}
"""


# --- running the CLI --------------------------------------------------------------------


@dataclass
class Outcome:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def warnings(self) -> list[str]:
        """wlkit's warnings about plugins (other libraries may warn too)."""
        return [line for line in self.stderr.splitlines()
                if line.startswith("warning:") and "plugin" in line]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def listing(self) -> dict[tuple[str, str], dict]:
        assert self.returncode == 0, self.explain()
        return {(row["family"], row["name"]): row for row in json.loads(self.stdout)}

    def explain(self) -> str:
        return (f"wlkit {' '.join(self.args)} -> exit {self.returncode}\n"
                f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}")


def wlkit_command() -> list[str]:
    script = Path(sys.executable).with_name("wlkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wlkit.cli"]


def run_wlkit(args: list[str], path: list[Path], env: dict[str, str], cwd: Path) -> Outcome:
    full_env = {k: v for k, v in os.environ.items() if k not in PLUGIN_ENV}
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    proc = subprocess.run([*wlkit_command(), *args], env=full_env, cwd=cwd, text=True,
                          capture_output=True, timeout=180)
    return Outcome(args, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed by pip into a fresh folder (not the venv)."""
    tmp = tmp_path_factory.mktemp("example-install")
    source = tmp / "source"  # a copy: building writes build/ and *.egg-info next to setup.cfg
    shutil.copytree(EXAMPLE, source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--quiet", "--target", str(target),
         str(source)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    assert list(target.glob("wlkit_plugin_example-*.dist-info"))
    return target


class Scenarios:
    """wlkit command lines running on a thread pool; ``scenarios[name]`` waits for one."""

    def __init__(self, tmp: Path, specs: dict[str, tuple[list[str], list[Path], dict]]):
        self.tmp = tmp
        self._pool = ThreadPoolExecutor(max_workers=4)  # mostly waiting on imports and I/O
        self._futures: dict[str, Future[Outcome]] = {
            name: self._pool.submit(run_wlkit, args, path, env, tmp)
            for name, (args, path, env) in specs.items()}

    def __getitem__(self, name: str) -> Outcome:
        return self._futures[name].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def cli(example_site: Path, tmp_path_factory: pytest.TempPathFactory):
    """Start every wlkit command line of this module at once; ``cli[name]`` is its Outcome."""
    tmp = tmp_path_factory.mktemp("discovery")
    dists = tmp / "dists"
    import_error = fake_dist(dists, "wlkit-fixture-import-error", IMPORT_ERROR)
    zoo = [fake_dist(dists, "wlkit-fixture-hook-raises", HOOK_RAISES),
           fake_dist(dists, "wlkit-fixture-returns-dict", RETURNS_DICT),
           fake_dist(dists, "wlkit-fixture-wrong-record", RETURNS_WRONG_RECORD),
           fake_dist(dists, "wlkit-fixture-misspelt", MISSPELT_HOOK)]
    twin_a = fake_dist(dists, "wlkit-fixture-twin-a", aggregator_plugin("twin"))
    twin_b = fake_dist(dists, "wlkit-fixture-twin-b", aggregator_plugin("twin"))
    shadow = fake_dist(dists, "wlkit-fixture-shadow-sum", aggregator_plugin("sum"))
    commands = [fake_dist(dists, "wlkit-fixture-hello", HELLO_COMMAND),
                fake_dist(dists, "wlkit-fixture-takes-run", TAKES_RUN),
                fake_dist(dists, "wlkit-fixture-commands-raise", COMMANDS_RAISE)]
    twin_pipeline = tmp / "twins.yaml"
    twin_pipeline.write_text(TWIN_PIPELINE)
    frob_pipeline = tmp / "frob.yaml"  # an aggregator only the broken plugin would provide
    frob_pipeline.write_text(TWIN_PIPELINE.replace("twin,", "frobnicate,"))
    pipeline = str(EXAMPLE / "pipeline.yaml")
    site = [example_site]
    plugins_json = ["plugins", "--json"]
    specs: dict[str, tuple[list[str], list[Path], dict[str, str]]] = {
        # the training run is the slowest: start it first
        "run": (["run", pipeline, "--out", str(tmp / "run"), "--quiet"], site, {}),
        "listing": (plugins_json, site, {}),
        "validate": (["validate", pipeline], site, {}),
        "check": (["check", *sorted(name for _, name in EXAMPLE_COMPONENTS), "--json"], site,
                  {}),
        "disabled": (plugins_json, site, {"WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}),
        "only_other": (plugins_json, site, {"WLKIT_PLUGINS": "other"}),
        "only_entry_point": (plugins_json, site, {"WLKIT_PLUGINS": EXAMPLE_ENTRY_POINT}),
        "import_error": (["plugins"], [*site, import_error], {}),
        "import_error_strict": (["plugins"], [*site, import_error],
                                {"WLKIT_STRICT_PLUGINS": "1"}),
        "zoo": (plugins_json, [*site, *zoo], {}),
        "import_error_used": (["validate", str(frob_pipeline)], [import_error], {}),
        "twins": (["plugins"], [twin_a, twin_b], {}),
        "twins_json": (plugins_json, [twin_a, twin_b], {}),
        "twins_used": (["validate", str(twin_pipeline)], [twin_a, twin_b], {}),
        "shadow_sum": (["plugins", "--json"], [shadow], {}),
        "hello": (["hello", "--name", "ada"], commands, {}),
        "hello_bad": (["hello", "--name", "nobody"], commands, {}),
        "help": (["--help"], commands, {}),
    }
    scenarios = Scenarios(tmp, specs)
    yield scenarios
    scenarios.close()


# --- the example package through its entry point ----------------------------------------


def test_example_components_are_listed_with_their_distribution(cli):
    rows = cli["listing"].listing()
    for key in EXAMPLE_COMPONENTS:
        assert key in rows, f"{key} missing from wlkit plugins --json"
        row = rows[key]
        assert (row["source"], row["version"], row["plugin"]) == (
            EXAMPLE_DIST, EXAMPLE_VERSION, EXAMPLE_ENTRY_POINT)
    assert rows[("aggregator", "sum")]["source"] == "wlkit"
    params = {p["name"]: p for p in rows[("positional_encoding", "degree_onehot")]["params"]}
    assert params["max_degree"]["type"] == "int" and params["max_degree"]["default"] == 8
    params = {p["name"]: p for p in rows[("aggregator", "example_softmax")]["params"]}
    assert params["beta"]["type"] == "float" and params["learn_beta"]["type"] == "bool"
    assert cli["listing"].warnings == []


def test_pipeline_with_example_components_runs(cli):
    outcome = cli["run"]
    assert outcome.returncode == 0, outcome.explain()
    run_dir = cli.tmp / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["seeds"] == [0] and summary["num_params"] > 0
    recorded = {(r["family"], r["name"]): r for r in
                json.loads((run_dir / "plugins.json").read_text())}
    assert recorded[("aggregator", "example_softmax")]["source"] == EXAMPLE_DIST
    assert recorded[("aggregator", "example_softmax")]["version"] == EXAMPLE_VERSION
    assert recorded[("subgraph_policy", "marked_copies")]["source"] == EXAMPLE_DIST


def test_validate_builds_the_model(cli):
    outcome = cli["validate"]
    assert outcome.returncode == 0, outcome.explain()
    assert "num_params:" in outcome.stdout
    assert "aggregator example_softmax" in outcome.stdout and "readout sum_max" in outcome.stdout
    assert "policy: marked_copies" in outcome.stdout


def test_wlkit_check_passes_the_example_components(cli):
    outcome = cli["check"]
    assert outcome.returncode == 0, outcome.explain()
    rows = {(r["family"], r["name"]): r for r in json.loads(outcome.stdout)["components"]}
    assert rows.keys() == EXAMPLE_COMPONENTS
    for row in rows.values():
        assert not row["red"] and row["source"] == EXAMPLE_DIST, row
        assert row["checks"]["invariant"]["status"] == "pass"
    policy = rows[("subgraph_policy", "marked_copies")]["separation"]
    assert policy["bound"] == "node_marked" and not policy["beyond_bound"]
    assert policy["separated"] >= 1  # beyond 1-WL: all four classic pairs are 1-WL-equivalent


# --- environment switches ---------------------------------------------------------------


@pytest.mark.parametrize("scenario, visible", [
    ("disabled", False),
    ("only_other", False),
    ("only_entry_point", True),
])
def test_environment_switches(cli, scenario, visible):
    rows = cli[scenario].listing()
    assert {key for key in EXAMPLE_COMPONENTS if key in rows} == (
        EXAMPLE_COMPONENTS if visible else set())
    assert ("aggregator", "sum") in rows and ("dataset", "csl") in rows  # built-ins stay


# --- broken plugins ---------------------------------------------------------------------


def test_plugin_failing_to_import_is_skipped_with_one_warning(cli):
    outcome = cli["import_error"]
    assert outcome.returncode == 0, outcome.explain()
    named = [w for w in outcome.warnings if "wlkit-fixture-import-error" in w]
    assert len(named) == 1 and len(outcome.warnings) == 1, outcome.explain()  # nothing else
    assert "ImportError" in named[0] and "libfrobnicate" in named[0]
    assert "Traceback" not in outcome.stderr
    for name, source in [("sum", "wlkit"), ("gin", "wlkit"), ("csl", "wlkit"),
                         ("example_softmax", EXAMPLE_DIST)]:  # built-ins and the rest work
        assert re.search(rf"^  {name} +\[{source} ", outcome.stdout, re.MULTILINE), name


def test_strict_mode_fails_on_a_plugin_failing_to_import(cli):
    outcome = cli["import_error_strict"]
    assert outcome.returncode != 0, outcome.explain()
    assert "ImportError: wlkit-fixture needs libfrobnicate >= 2" in outcome.stderr


@pytest.mark.parametrize("dist, reason, survivor", [
    ("wlkit-fixture-hook-raises", "RuntimeError: kaboom in wlkit_aggregators",
     ("readout", "survivor_readout")),
    ("wlkit-fixture-returns-dict", "expected a list of ReadoutRecord, got dict",
     ("aggregator", "survivor_dict")),
    ("wlkit-fixture-wrong-record", "expected ReadoutRecord items, got AggregatorRecord",
     ("aggregator", "survivor_record")),
])
def test_failing_or_wrongly_typed_hook_is_isolated(cli, dist, reason, survivor):
    outcome = cli["zoo"]
    rows = outcome.listing()
    named = [w for w in outcome.warnings if dist in w]
    assert len(named) == 1, outcome.explain()
    assert reason in named[0]
    assert survivor in rows and rows[survivor]["source"] == dist  # its other hook still works
    assert EXAMPLE_COMPONENTS <= rows.keys()
    assert ("readout", "misfiled") not in rows and ("aggregator", "misfiled") not in rows
    assert "Traceback" not in outcome.stderr


def test_misspelt_hook_is_isolated(cli):
    outcome = cli["zoo"]
    rows = outcome.listing()
    named = [w for w in outcome.warnings if "wlkit-fixture-misspelt" in w]
    assert len(named) == 1, outcome.explain()
    assert "unknown hook 'wlkit_aggregator'" in named[0]
    hint = outcome.stderr.split(named[0], 1)[1].split("warning:", 1)[0]
    assert "hook names must be one of" in hint and "wlkit_aggregators" in hint
    assert EXAMPLE_COMPONENTS <= rows.keys() and ("aggregator", "sum") in rows


def test_a_component_of_a_plugin_that_failed_to_import_names_the_plugin(cli):
    outcome = cli["import_error_used"]
    assert outcome.returncode == 2, outcome.explain()
    assert "Traceback" not in outcome.stderr
    text = outcome.stderr
    assert "aggregator 'frobnicate' is not available: plugin 'wlkit_fixture_import_error' " \
           "from distribution wlkit-fixture-import-error 0.1 failed to load: ImportError: " \
           "wlkit-fixture needs libfrobnicate >= 2" in text, outcome.explain()
    assert "unknown aggregator" not in text


# --- name clashes -------------------------------------------------------------------------


def test_two_third_party_plugins_with_one_name_do_not_break_the_listing(cli):
    outcome = cli["twins"]
    assert outcome.returncode == 0, outcome.explain()
    [warning] = outcome.warnings
    assert "aggregator 'twin'" in warning, outcome.explain()
    assert "wlkit-fixture-twin-a" in warning and "wlkit-fixture-twin-b" in warning
    assert "CLASH: also registered by wlkit-fixture-twin-b" in outcome.stdout
    assert re.search(r"^  sum +\[wlkit ", outcome.stdout, re.MULTILINE)
    rows = [r for r in json.loads(cli["twins_json"].stdout) if r["name"] == "twin"]
    assert sorted(r["source"] for r in rows) == ["wlkit-fixture-twin-a", "wlkit-fixture-twin-b"]
    assert all(sorted(r["clash"]) == ["wlkit-fixture-twin-a", "wlkit-fixture-twin-b"]
               for r in rows)


def test_two_third_party_plugins_with_one_name_fail_a_pipeline_using_it(cli):
    outcome = cli["twins_used"]
    assert outcome.returncode == 2, outcome.explain()
    assert "Traceback" not in outcome.stderr
    assert "2 plugins register the aggregator 'twin'" in outcome.stderr, outcome.explain()
    assert "wlkit-fixture-twin-a" in outcome.stderr and "wlkit-fixture-twin-b" in outcome.stderr
    assert "hint: uninstall one of them" in outcome.stderr
    assert "twins.yaml:3: model.aggregator" in outcome.stderr  # located in the file


def test_a_third_party_component_named_like_a_builtin_loses_with_a_warning(cli):
    outcome = cli["shadow_sum"]
    rows = outcome.listing()  # exit 0: every command still works
    assert rows[("aggregator", "sum")]["source"] == "wlkit"
    [warning] = outcome.warnings
    assert "aggregator 'sum'" in warning and "wlkit-fixture-shadow-sum 0.1" in warning
    assert "distribution wlkit " in warning and "the built-in is used" in warning
    hint = outcome.stderr.split(warning, 1)[1].split("warning:", 1)[0]
    assert "hint: rename the component" in hint and "'fixture_shadow_sum_sum'" in hint
    assert "uninstall" not in hint
    assert "Traceback" not in outcome.stderr


# --- subcommands from plugins (wlkit_commands) ---------------------------------------------


def test_a_plugin_subcommand_runs(cli):
    outcome = cli["hello"]
    assert outcome.returncode == 0, outcome.explain()
    assert outcome.stdout == "hello ada from a plugin\n"
    bad = cli["hello_bad"]
    assert bad.returncode == 2 and bad.errors == ["error: nobody to greet"], bad.explain()
    assert "hint: pass --name" in bad.stderr and "Traceback" not in bad.stderr


def test_help_lists_plugin_commands_and_skips_broken_ones(cli):
    outcome = cli["help"]
    assert outcome.returncode == 0, outcome.explain()
    listed = set(re.findall(r"^    (\w+)", outcome.stdout, re.MULTILINE))
    assert {"run", "validate", "plugins", "check", "hello"} <= listed, outcome.stdout
    assert not {"mine", "half"} & listed  # a skipped plugin adds none of its commands
    taker = [w for w in outcome.warnings if "wlkit-fixture-takes-run" in w]
    assert len(taker) == 1 and "command 'run'" in taker[0] and "wlkit" in taker[0], \
        outcome.explain()
    raised = [w for w in outcome.warnings if "wlkit-fixture-commands-raise" in w]
    assert len(raised) == 1 and "RuntimeError: kaboom in wlkit_commands" in raised[0]
    assert "Traceback" not in outcome.stderr


# --- in process ---------------------------------------------------------------------------


def plugin_module(name: str, code: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(textwrap.dedent(code), f"<{name}>", "exec"), module.__dict__)
    return module


def test_registered_plugin_shadowing_a_builtin_loses_with_a_warning():
    module = plugin_module("shadow_sum_inline", aggregator_plugin("sum"))
    with registered_plugin(module):
        with pytest.warns(PluginWarning, match=r"shadow_sum_inline.*aggregator 'sum'.*"
                                               r"wlkit\.plugins\.aggregators"):
            registry = get_registry()
        assert registry.entry("aggregator", "sum").source == "wlkit"
    assert get_registry().entry("aggregator", "sum").source == "wlkit"


def test_registered_plugin_with_wrong_record_type_is_skipped():
    module = plugin_module("wrong_record_inline", RETURNS_WRONG_RECORD)
    with registered_plugin(module):
        with pytest.warns(PluginWarning, match="wrong_record_inline.*got AggregatorRecord"):
            registry = get_registry()
        assert ("aggregator", "survivor_record") in registry
        assert ("readout", "misfiled") not in registry
        assert ("readout", "sum") in registry


def test_registered_plugin_with_misspelt_hook_is_rejected():
    module = plugin_module("misspelt_inline", MISSPELT_HOOK)
    with pytest.raises(PluginError, match="unknown hook 'wlkit_aggregator'"):
        with registered_plugin(module):
            pass  # pragma: no cover
    assert "misspelt_inline" not in wlkit.manager.get_host().sources
    assert ("aggregator", "sum") in get_registry()


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Put fixture distributions on sys.path for an in-process PluginHost."""
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)

    def add(dist: str, code: str, **kwargs) -> str:
        module = kwargs.setdefault("module", f"{dist.replace('-', '_')}_{tmp_path.name}")
        monkeypatch.syspath_prepend(str(fake_dist(tmp_path, dist, code, **kwargs)))
        monkeypatch.delitem(sys.modules, module, raising=False)  # restored after the test
        return module

    return add


def test_two_distributions_with_the_same_entry_point_name_both_load(on_path):
    on_path("wlkit-fixture-left", aggregator_plugin("left_agg"), entry_point="plugin")
    on_path("wlkit-fixture-right", aggregator_plugin("right_agg"), entry_point="plugin")
    registry = PluginHost().registry
    assert registry.entry("aggregator", "left_agg").source == "wlkit-fixture-left"
    assert registry.entry("aggregator", "right_agg").source == "wlkit-fixture-right"


def test_plugin_filter_matches_normalised_distribution_names(on_path, monkeypatch):
    on_path("wlkit-fixture-Filtered", aggregator_plugin("filtered_agg"))
    for spelling in ("wlkit-fixture-Filtered", "wlkit_fixture_filtered", "WLKIT.Fixture-filtered"):
        monkeypatch.setenv("WLKIT_PLUGINS", spelling)
        assert ("aggregator", "filtered_agg") in PluginHost().registry, spelling
    monkeypatch.setenv("WLKIT_PLUGINS", "something-else")
    assert ("aggregator", "filtered_agg") not in PluginHost().registry


def test_unreadable_entry_point_metadata_is_a_warning(on_path, tmp_path, monkeypatch):
    on_path("wlkit-fixture-fine", aggregator_plugin("fine_agg"))
    folder = fake_dist(tmp_path, "wlkit-fixture-garbled", "", module="garbled")
    next(folder.glob("*.dist-info")).joinpath("entry_points.txt").write_text(
        "[wlkit]\nthis line has no equals sign\n")
    monkeypatch.syspath_prepend(str(folder))
    with pytest.warns(PluginWarning, match="wlkit-fixture-garbled"):
        registry = PluginHost().registry
    assert ("aggregator", "fine_agg") in registry
