"""The ``wlkit_commands`` hook in process: plugins add subcommands next to the built-ins.

A private :class:`wlkit.manager.PluginHost` (built-ins only) gets fixture plugins, and
:meth:`PluginHost.add_commands` fills a fresh ``argparse`` parser, as ``wlkit`` does. The
same rules run end to end through real entry points in ``test_discovery.py``.
"""

from __future__ import annotations

import argparse
import textwrap
import types
import warnings

import pytest

import wlkit.cli
from wlkit import PluginError
from wlkit.cli import builtin
from wlkit.manager import PluginHost, PluginWarning

BUILTIN_COMMANDS = {"run", "validate", "plugins", "check", "analyze", "separate",
                    "leaderboard", "plot", "predict", "compare", "sweep"}


def module(name: str, code: str) -> types.ModuleType:
    plugin = types.ModuleType(name)
    exec(compile(textwrap.dedent(code), f"<{name}>", "exec"), plugin.__dict__)
    return plugin


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    for name in ("WLKIT_DISABLE_PLUGIN_AUTOLOAD", "WLKIT_PLUGINS", "WLKIT_STRICT_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return PluginHost(autoload=False)


def add(host: PluginHost, name: str, code: str) -> None:
    host.register(module(name, code), name, (f"wlkit-fixture-{name}", "0.2"))


def parser_of(host: PluginHost) -> tuple[argparse.ArgumentParser, list[str]]:
    """The wlkit parser built from ``host`` and the plugin warnings raised meanwhile."""
    parser = argparse.ArgumentParser(prog="wlkit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        host.add_commands(sub, builtin=builtin)
    return parser, [str(w.message) for w in record if issubclass(w.category, PluginWarning)]


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


HELLO = """
    from wlkit import hookimpl

    def hello(args):
        print(f"hello {args.name}")
        return 7

    @hookimpl
    def wlkit_commands(subparsers):
        parser = subparsers.add_parser("hello", help="say hello", aliases=["hi"])
        parser.add_argument("--name", default="world")
        parser.set_defaults(handler=hello)
    """


def test_builtins_come_first_and_a_plugin_command_runs(host, capsys):
    add(host, "hello", HELLO)
    parser, messages = parser_of(host)
    assert messages == []
    names = list(commands(parser))
    assert names[:len(BUILTIN_COMMANDS)] == [m.__name__.rsplit(".", 1)[1]
                                            for m in builtin.COMMANDS]
    assert names[len(BUILTIN_COMMANDS):] == ["hello", "hi"]
    args = parser.parse_args(["hi", "--name", "ada"])
    assert args.handler(args) == 7
    assert capsys.readouterr().out == "hello ada\n"
    assert "hello" in parser.format_help()


def test_the_builtin_commands_are_registered_once_as_part_of_wlkit(host):
    parser_of(host)
    parser, messages = parser_of(host)  # a second parser: no "command taken" by wlkit itself
    assert messages == [] and set(commands(parser)) == BUILTIN_COMMANDS
    assert host.plugin_source(builtin)[0] == "wlkit"
    bare = argparse.ArgumentParser().add_subparsers()
    PluginHost(autoload=False).add_commands(bare)  # the kernel alone knows no commands
    assert dict(bare.choices) == {}


TAKES_RUN = """
    from wlkit import hookimpl

    @hookimpl{options}
    def wlkit_commands(subparsers):
        subparsers.add_parser("mine", help="mine").set_defaults(handler=lambda args: 0)
        subparsers.add_parser({taken!r}, help="taken").set_defaults(handler=lambda args: 1)
    """


@pytest.mark.parametrize("taken, options", [
    ("run", ""),
    ("run", "(trylast=True)"),  # runs before the built-ins in pluggy's order
    ("validate", "(tryfirst=True)"),
])
def test_a_plugin_taking_a_builtin_command_name_is_skipped(host, taken, options):
    add(host, "taker", TAKES_RUN.format(taken=taken, options=options))
    parser, messages = parser_of(host)
    [message] = messages
    assert "'taker'" in message and "wlkit-fixture-taker 0.2" in message
    assert f"command {taken!r}" in message and "of wlkit" in message
    assert f"hint: rename the command or prefix it, e.g. 'fixture-taker-{taken}'" in message
    found = commands(parser)
    assert set(found) == BUILTIN_COMMANDS  # none of the plugin's commands, not even 'mine'
    assert found[taken]._defaults["handler"] is getattr(wlkit.cli, taken).run
    assert "mine" not in parser.format_help()


def test_a_plugin_taking_another_plugins_command_name_is_skipped(host):
    add(host, "hello", HELLO)
    add(host, "second", HELLO.replace('aliases=["hi"]', 'aliases=["hey"]'))
    parser, messages = parser_of(host)
    [message] = messages
    assert "'second'" in message and "plugin 'hello' (distribution wlkit-fixture-hello 0.2)" \
        in message
    assert set(commands(parser)) == BUILTIN_COMMANDS | {"hello", "hi"}


@pytest.mark.parametrize("body, reason", [
    ('subparsers.add_parser("half", help="h")\n            raise RuntimeError("kaboom")',
     "RuntimeError: kaboom"),
    ('subparsers.add_parser("nohandler", help="h")', "sets no handler"),
])
def test_a_failing_commands_hook_is_skipped_with_a_warning(host, body, reason):
    add(host, "broken", f"""
        from wlkit import hookimpl

        @hookimpl
        def wlkit_commands(subparsers):
            {body}
        """)
    add(host, "hello", HELLO)
    parser, messages = parser_of(host)
    [message] = messages
    assert "'broken'" in message and "wlkit-fixture-broken 0.2" in message
    assert "hook wlkit_commands failed" in message and reason in message
    assert set(commands(parser)) == BUILTIN_COMMANDS | {"hello", "hi"}  # the rest still work
    help_text = parser.format_help()
    assert "half" not in help_text and "nohandler" not in help_text
    assert [f.hook for f in host.failures] == ["wlkit_commands"]


def test_strict_mode_raises_for_a_broken_commands_hook(host, monkeypatch):
    monkeypatch.setenv("WLKIT_STRICT_PLUGINS", "1")
    add(host, "taker", TAKES_RUN.format(taken="run", options=""))
    with pytest.raises(PluginError, match="command 'run'"):
        parser_of(host)


def test_wlkit_help_still_works_with_a_broken_plugin(host, monkeypatch, capsys):
    add(host, "broken", """
        from wlkit import hookimpl

        @hookimpl
        def wlkit_commands(subparsers):
            raise RuntimeError("kaboom")
        """)
    add(host, "hello", HELLO)
    monkeypatch.setattr("wlkit.manager.get_host", lambda: host)
    with pytest.raises(SystemExit) as exit_info:
        wlkit.cli.main(["--help"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert "hello" in captured.out and "run" in captured.out
    assert "warning: wlkit plugin 'broken'" in captured.err and "Traceback" not in captured.err
    assert wlkit.cli.main(["hello", "--name", "x"]) == 7
