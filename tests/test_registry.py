"""The construction registry's plug-in point: a distribution names a module in the entry-point group
``memcap.constructions`` and ``kernels.build`` builds it.  The plug-ins here are real distributions
(a ``.dist-info`` with ``entry_points.txt``) on a temporary ``sys.path`` entry."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

import kernels
from kernels import cli, constructions
from kernels.constructions import zhang
from kernels.model.data import generate

PLUGIN = '''
"""A test plug-in: zhang's network under another name, with one option of its own."""
import kernels
from kernels.constructions import zhang
from kernels.memorizer import Memorizer

NAME = "echo"
SEED = "test plug-in"
SUMMARY = "zhang's network, registered through the memcap.constructions entry points"
NONNEGATIVE = False
EXECUTORS = ("dense",)


def estimate_bytes(n, p, r, **_):
    return zhang.estimate_bytes(n, p, r)


def build(ds, *, seed=0, dtype="float64", label="plain"):
    net = kernels.build("zhang", ds.X, ds.D, seed=seed, dtype=dtype).network
    return Memorizer(NAME, ds, network=net, executors=EXECUTORS, dtype=dtype,
                     info={"label": label})
'''


@pytest.fixture
def install(tmp_path, monkeypatch):
    """install(entries, modules): a distribution on a fresh sys.path entry; the registry is reset
    to the built-ins and reads the plug-ins again (everything is restored afterwards)."""
    monkeypatch.setattr(constructions, "_MODULES", {m.NAME: m for m in constructions.BUILTIN})
    monkeypatch.setattr(constructions, "_plugins_read", False)
    monkeypatch.syspath_prepend(str(tmp_path))
    added = []

    def _install(entries: dict[str, str], modules: dict[str, str]) -> None:
        for name, src in modules.items():
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(src))
            added.append(name)
        info = tmp_path / "memcap_test_plugin-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: memcap-test-plugin\n"
                                       "Version: 0.1\n")
        lines = [f"{k} = {v}" for k, v in entries.items()]
        (info / "entry_points.txt").write_text("[memcap.constructions]\n" + "\n".join(lines)
                                               + "\n")

    yield _install
    for name in added:
        sys.modules.pop(name, None)


def test_builtins_are_registered_in_list_order():
    assert constructions.names()[:8] == ("zhang", "bubeck", "sign-cube", "vardi", "rajput",
                                         "switch-net", "hyperplane-tree", "axis-tree")
    assert all(constructions.get(m.NAME) is m for m in constructions.BUILTIN)


def test_plugin_is_listed_imported_when_used_and_built(install):
    install({"echo": "memcap_echo_plugin"}, {"memcap_echo_plugin": PLUGIN})
    assert constructions.names()[-1] == "echo"
    assert "memcap_echo_plugin" not in sys.modules  # read, not imported yet
    assert constructions.options_of("echo") == ("label",)
    ds = generate("gaussian", 40, 3, 2, seed=1)
    m = kernels.build("echo", ds.X, ds.D, seed=2, label="x")
    assert m.name == "echo" and m.info == {"label": "x"} and m.executors == ("dense",)
    want = kernels.build("zhang", ds.X, ds.D, seed=2).predict(ds.X)
    assert np.array_equal(m.predict(ds.X), want)
    assert np.allclose(want, ds.D)
    assert [r["name"] for r in constructions.describe()][-1] == "echo"
    with pytest.raises(ValueError, match="unknown option 'bogus' for echo"):
        kernels.build("echo", ds.X, ds.D, bogus=1)


def test_unknown_name_lists_builtins_and_plugins(install):
    install({"echo": "memcap_echo_plugin"}, {"memcap_echo_plugin": PLUGIN})
    with pytest.raises(ValueError, match=r"unknown construction 'nope'; choose from zhang, .*"
                                         r"axis-tree, echo$"):
        constructions.get("nope")


def test_plugin_cannot_replace_a_builtin(install):
    install({"zhang": "memcap_echo_plugin"}, {"memcap_echo_plugin": PLUGIN})
    with pytest.warns(UserWarning, match="plug-in construction 'zhang'.*skipped"):
        names = constructions.names()
    assert names.count("zhang") == 1 and constructions.get("zhang") is zhang


def test_broken_plugin_fails_only_when_used(install):
    install({"ghost": "memcap_no_such_module"}, {})
    assert "ghost" in constructions.names()
    with pytest.raises(ModuleNotFoundError):
        constructions.get("ghost")
    ds = generate("gaussian", 10, 2, 1, seed=0)
    assert kernels.build("zhang", ds.X, ds.D).name == "zhang"


def test_cli_lists_and_verifies_the_plugin(install, capsys):
    install({"echo": "memcap_echo_plugin"}, {"memcap_echo_plugin": PLUGIN})
    assert cli.main(["list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("echo ")
    assert cli.main(["verify", "echo", "--n", "30", "--p", "2", "--option", "label=y",
                     "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["construction"] == "echo" and rec["info"] == {"label": "y"}
    assert rec["executors"]["dense"]["exact"] is True
