"""The layers of shared/design.md, checked by import-linter (the contracts in pyproject.toml):
every import points down, no circles, private modules stay in their package.  The checker is held
to fail: the same contracts on a copy of the package with one import pointing up are broken."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.fail(f"{LINT} is missing: install the test extra (pip install -e '.[test]')")
    env = {"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(LINT), "--no-logo", "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "kernels", tmp_path / "kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layer_contracts_hold(tmp_path):
    res = _lint(_copy(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("model/network.py", "import kernels.memorizer", "layers"),          # the ground imports up
    ("executors/dense.py", "from kernels.theory import bounds", "layers"),  # siblings of a layer
    ("harness/grid.py", "from kernels.harness import sweep", "no circles"),  # a circle
    ("harness/cell.py", "from kernels.executors import _ops", "private modules"),
])
def test_an_added_import_breaks_a_contract(tmp_path, module, line, contract):
    root = _copy(tmp_path)
    path = root / "kernels" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    res = _lint(root)
    assert res.returncode != 0
    broken = [ln for ln in res.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(ln.startswith(contract) for ln in broken), res.stdout
