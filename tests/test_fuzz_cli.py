"""Fuzzing the CLI boundary: generated bad files, bad arguments and bad options.  Every
one must end in exit code 2, exactly one line on stderr, nothing on stdout and nothing written
(hypothesis; derandomized under CI by tests/conftest.py)."""

import io
import os
import string
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernels import constructions
from kernels.cli import main
from kernels.constructions.options import Range

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)),  # more: a longer hunt
                suppress_health_check=[HealthCheck.function_scoped_fixture])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def listing(folder) -> dict:
    return {f: open(os.path.join(folder, f), "rb").read() for f in sorted(os.listdir(folder))}


def refused(argv, capsys, folder) -> str:
    """Run ``argv`` in-process with ``folder`` as the working directory; assert the contract."""
    before = listing(folder)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        code = main(argv)
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    assert code == 2, (argv, code, out, err)
    assert out == "", (argv, out)
    assert err.endswith("\n") and err.count("\n") == 1, (argv, err)
    assert "Traceback" not in err
    assert listing(folder) == before, argv  # nothing written, nothing removed
    return err


def npz_bytes(arrays: dict, compressed: bool) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def npy_member(header: str, data: bytes) -> bytes:
    """A .npy member with a hand-written header (version 1.0, or 2.0 when it is long)."""
    h = header.encode("latin1")
    width = 2 if len(h) < 60_000 else 4
    pad = 64 - (8 + width + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    version = b"\x01\x00" if width == 2 else b"\x02\x00"
    return b"\x93NUMPY" + version + len(h).to_bytes(width, "little") + h + data


def zip_of(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buf.getvalue()


GOOD = {"X": np.arange(12.0).reshape(6, 2), "D": np.arange(6.0)}


@st.composite
def bad_files(draw) -> bytes:
    kind = draw(st.sampled_from(["garbage", "truncated", "shape", "object", "strings",
                                 "missing", "huge_header", "lying_header", "nan", "empty_zip",
                                 "bad_version"]))
    if kind == "garbage":
        return draw(st.binary(max_size=200))
    if kind == "truncated":
        blob = npz_bytes(GOOD, draw(st.booleans()))
        return blob[:draw(st.integers(0, len(blob) - 1))]
    if kind == "shape":
        n = draw(st.integers(1, 5))
        x_shape = draw(st.sampled_from([(n,), (n, 2, 1), (n, 0), (0, 2), (n, 2)]))
        d_shape = draw(st.sampled_from([(n + 1,), (n, 1, 1), (n + 2, 1)]))
        return npz_bytes({"X": np.ones(x_shape), "D": np.ones(d_shape)}, draw(st.booleans()))
    if kind == "object":
        return npz_bytes({"X": np.array([[1, None], [2, "a"]], dtype=object), "D": np.ones(2)},
                         False)
    if kind == "strings":
        return npz_bytes({"X": np.array([["a", "b"]] * 3), "D": np.ones(3)}, False)
    if kind == "missing":
        name = draw(st.sampled_from(["X", "D"]))
        return npz_bytes({k: v for k, v in GOOD.items() if k != name}, False)
    if kind == "huge_header":
        pad = " " * draw(st.integers(20_000, 200_000))
        header = "{'descr': '<f8', 'fortran_order': False, 'shape': (6, 2), }" + pad
        return zip_of({"X.npy": npy_member(header, bytes(96)),
                       "D.npy": npy_member("{'descr': '<f8', 'fortran_order': False, "
                                           "'shape': (6,), }", bytes(48))})
    if kind == "lying_header":
        n = draw(st.integers(10**6, 10**15))
        return zip_of({"X.npy": npy_member(f"{{'descr': '<f8', 'fortran_order': False, "
                                           f"'shape': ({n}, 2), }}", bytes(96)),
                       "D.npy": npy_member(f"{{'descr': '<f8', 'fortran_order': False, "
                                           f"'shape': ({n},), }}", bytes(48))})
    if kind == "nan":
        X = GOOD["X"].copy()
        X[draw(st.integers(0, 5)), draw(st.integers(0, 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf]))
        return npz_bytes({"X": X, "D": GOOD["D"]}, False)
    if kind == "bad_version":
        blob = npy_member("{'descr': '<f8', 'fortran_order': False, 'shape': (6, 2), }",
                          bytes(96))
        return zip_of({"X.npy": blob[:6] + b"\x07\x00" + blob[8:], "D.npy": blob})
    return zip_of({})


@FUZZ
@given(blob=bad_files(), command=st.sampled_from(["verify", "report"]),
       name=st.sampled_from(constructions.names()))
def test_bad_files(capsys, blob, command, name):
    with tempfile.TemporaryDirectory() as folder:
        if command == "verify":
            path = os.path.join(folder, "bad.npz")
            with open(path, "wb") as f:
                f.write(blob)
            refused(["verify", name, "--data", path], capsys, folder)
        else:  # the same bytes as a results file
            path = os.path.join(folder, "bad.json")
            with open(path, "wb") as f:
                f.write(blob)
            refused(["report", "--results", path, "--out", "out"], capsys, folder)


WORDS = st.text(string.ascii_letters + string.digits + "-_=.,:", min_size=1, max_size=12)
BAD_ARGS = st.sampled_from([
    ["verify", "zhang", "--n", "0", "--p", "2"], ["verify", "zhang", "--n", "-5", "--p", "2"],
    ["verify", "zhang", "--n", "abc", "--p", "2"], ["verify", "zhang", "--n", "8", "--p", "1e400"],
    ["verify", "zhang", "--n", "8", "--p", "2", "--kind", "spiral"],
    ["verify", "zhang", "--n", "8", "--p", "2", "--dtype", "float16"],
    ["verify", "zhang", "--n", "8", "--p", "2", "--executor", "nope"],
    ["verify", "zhang", "--n", "8", "--p", "2", "--option", "noequals"],
    ["verify", "zhang", "--n", "8", "--p", "2", "--option", "1x=2"],
    ["verify", "zhang", "--n", "8", "--p", "2", "--r", "0"],
    ["verify", "zhang", "--n", "8", "--p", "2", "--seed", "x"],
    ["verify", "sign-cube", "--n", "9", "--p", "3", "--kind", "cube"],
    ["verify", "zhang", "--n", str(10**12), "--p", "4"],
    ["sweep", "--n", "0", "--out", "s.json"], ["sweep", "--p", "x", "--out", "s.json"],
    ["sweep", "--construction", "nope", "--out", "s.json"],
    ["sweep", "--sparsity", "1.5", "--out", "s.json"], ["sweep", "--dtype", "int3"],
    ["report", "--results", "missing.json", "--out", "out"],
    ["report", "--compare", "missing.json", "--out", "out"],
    ["list", "--bogus"], ["compare"], ["frobnicate"], [],
])


@FUZZ
@given(argv=BAD_ARGS, extra=st.lists(  # an unknown flag (not an abbreviation of --help, or of
    # --list: `compare --list` is valid without -o)
    WORDS.filter(lambda w: not any(o.startswith(w) for o in ("help", "list"))).map(
        lambda w: "--" + w), max_size=1))
def test_bad_arguments(capsys, argv, extra):
    with tempfile.TemporaryDirectory() as folder:
        refused(argv + extra, capsys, folder)


def _bad_value(draw, spec):
    """A value option ``spec`` must refuse, built from the spec (not from the checker)."""
    typ, allowed, default, _ = spec
    letters = st.text(string.ascii_letters, min_size=1, max_size=8).filter(
        lambda t: t.lower() not in ("none", "nan", "inf", "infinity", "true", "false", "yes",
                                    "no") and not (isinstance(allowed, tuple) and t in allowed))
    if typ in (int, float):
        rng: Range = allowed
        choices = [letters, st.sampled_from(["inf", "-inf", "nan", "1e400", "-1e400"])]
        if rng.lo is not None:
            choices.append(st.floats(max_value=rng.lo, allow_nan=False, allow_infinity=False,
                                     exclude_max=not rng.lo_open).map(repr))
        if rng.hi is not None:
            choices.append(st.floats(min_value=rng.hi, allow_nan=False, allow_infinity=False,
                                     exclude_min=not rng.hi_open).map(repr))
        if typ is int:
            choices.append(st.floats(0.01, 0.99).map(lambda f: repr((rng.lo or 0) + 1 + f)))
        if default is not None:
            choices.append(st.just("none"))
        return draw(st.one_of(choices))
    if typ is bool:
        return draw(st.one_of(letters, st.sampled_from(["2", "-1", "0.5"])))
    return draw(st.one_of(letters, st.just("none")) if default is not None else letters)


@st.composite
def bad_options(draw):
    name = draw(st.sampled_from(constructions.names()))
    spec = constructions.get(name).OPTIONS
    if not spec or draw(st.integers(0, 4)) == 0:  # an unknown option name
        key = draw(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(
            lambda k: k not in spec))
        return name, f"{key}=1"
    key = draw(st.sampled_from(sorted(spec)))
    return name, f"{key}={_bad_value(draw, spec[key])}"


@FUZZ
@given(case=bad_options())
def test_bad_options(capsys, case):
    name, option = case
    with tempfile.TemporaryDirectory() as folder:
        err = refused(["verify", name, "--n", "8", "--p", "2", "--option", option], capsys,
                      folder)
        assert option.split("=")[0] in err, err


def test_a_bad_file_in_a_fresh_process(tmp_path):
    """The real entry point: a truncated .npz, one line, exit 2, nothing on stdout."""
    path = tmp_path / "cut.npz"
    path.write_bytes(npz_bytes(GOOD, True)[:100])
    proc = subprocess.run([sys.executable, "-m", "kernels.cli", "verify", "zhang", "--data",
                           str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert (proc.returncode, proc.stdout, proc.stderr.count("\n")) == (2, "", 1), proc.stderr
    assert str(path) in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(tmp_path) == ["cut.npz"]


@pytest.mark.parametrize("blob", [b"", b"PK\x05\x06" + bytes(18)])
def test_empty_and_empty_zip(tmp_path, capsys, blob):
    path = tmp_path / "e.npz"
    path.write_bytes(blob)
    refused(["verify", "zhang", "--data", str(path)], capsys, str(tmp_path))
