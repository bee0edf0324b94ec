"""The README checker's reading of the README (scripts/readme_check.py): how it splits the sh
blocks into commands, which it skips, what exit status it expects, and that it runs a small
README in a clone and finds a file left behind.  The real README is not run here."""

import importlib.util
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_check", ROOT / "scripts/readme_check.py")
readme_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_check)

TEXT = """intro
```sh
make report     # the main job
# a comment line alone is not a command

memcap sweep --n 8 \\
             --p 2 --out reports/x.json
memcap diff a.json b.json   # [exit 0|1] a table
memcap verify bad   # [exit 2]
dask scheduler --host 127.0.0.1   # [server] blocks
memcap sweep --scheduler s.json  # [cluster] needs the above
pip download x   # [network]
A=$(git rev-parse HEAD); B=$A
for c in $A $B; do
  echo $c   # inside the loop
done
```

```python
not_a_command()
```
```sh
echo last
```
"""


def test_commands_are_split_marked_and_given_their_exit_status():
    cmds = readme_check.commands(TEXT)
    assert [c.splitlines()[0].split("  #")[0].strip() for c, _ in cmds] == [
        "make report", "memcap sweep --n 8 \\", "memcap diff a.json b.json",
        "memcap verify bad", "dask scheduler --host 127.0.0.1",
        "memcap sweep --scheduler s.json", "pip download x", "A=$(git rev-parse HEAD); B=$A",
        "for c in $A $B; do", "echo last"]
    wants = [w for _, w in cmds]
    assert wants == [(0,), (0,), (0, 1), (2,), None, None, None, (0,), (0,), (0,)]
    assert cmds[1][0].endswith("--p 2 --out reports/x.json")  # the continuation joined
    assert cmds[8][0].count("\n") == 2 and cmds[8][0].endswith("done")  # the whole loop
    assert not any("not_a_command" in c for c, _ in cmds)


def test_the_real_readme_parses_and_marks_only_servers_clusters_and_network():
    cmds = readme_check.commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(cmds) > 20
    for cmd, want in cmds:
        marked = any(m in cmd for m in readme_check.SKIP)
        assert (want is None) == marked, cmd
        assert "#" not in cmd.split("\n")[0].split(" #")[0] or "$(" in cmd, cmd
    assert cmds[0][0].startswith("make report")


def _repo(tmp_path, readme: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text(readme)
    (repo / ".gitignore").write_text("reports/\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"],
                ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True)
    return repo


@pytest.mark.parametrize("readme,code,says", [
    ("```sh\nmkdir -p reports && echo hi > reports/a\nexport V=3\ntest $V = 3\n"
     "false   # [exit 1]\nsleep 99   # [server]\n```\n", 0, "4 run, 1 skipped (marked), 0 failed"),
    ("```sh\necho hi > left.txt\n```\n", 1, "1 untracked"),
    ("```sh\nexit 3\n```\n", 1, "1 failed (1)"),
])
def test_a_small_readme_runs_in_a_clone(tmp_path, monkeypatch, capsys, readme, code, says):
    repo = _repo(tmp_path, readme)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert readme_check.main([]) == code
    out = capsys.readouterr().out
    assert says in out
    assert not (repo / "left.txt").exists()  # the clone, not this checkout, ran it
