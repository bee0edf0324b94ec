"""Run every shell command of README.md, in order, on a fresh clone, as a newcomer would.

Each ```sh block is split into commands (a line, its ``\\`` continuations, a ``for … done``
loop).  A command whose comment carries a mark is not run: ``[server]`` (blocks: a scheduler, a
preview server), ``[cluster]`` (needs other machines), ``[network]`` (needs the internet).
``[exit N]`` says the command exits N (default 0).  After the last command the clone must hold no
untracked file (generated files go under reports/ or another ignored folder).

    python scripts/readme_check.py                 # clones this checkout's HEAD into a temp dir
    python scripts/readme_check.py --list          # the commands, marked, without running them
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

SKIP = ("[server]", "[cluster]", "[network]")
_EXIT = re.compile(r"\[exit (\d+)\]")
_STATE = re.compile(r"^(export |[A-Za-z_]\w*=)")


def commands(text: str) -> list[tuple[str, int | None]]:
    """[(command, expected exit status or None when it is marked to skip)] of the sh blocks."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        cur, depth = [], 0
        for line in block.splitlines():
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            cur.append(line)
            code = line.split(" #")[0]
            depth += len(re.findall(r"\bdo\b", code)) - len(re.findall(r"\bdone\b", code))
            if code.rstrip().endswith("\\") or depth > 0:
                continue
            cmd = "\n".join(cur)
            cur = []
            marks = " ".join(re.findall(r"#.*", cmd))
            m = _EXIT.search(marks)
            out.append((cmd, None if any(s in marks for s in SKIP) else
                        int(m.group(1)) if m else 0))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--list", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--keep", action="store_true", help="keep the clone")
    args = ap.parse_args(argv)
    with open(args.readme, encoding="utf-8") as f:
        cmds = commands(f.read())
    if args.list:
        for cmd, want in cmds:
            print(("SKIP  " if want is None else f"exit {want}  ") + cmd.replace("\n", "\n      "))
        return 0
    root = tempfile.mkdtemp(prefix="memcap-readme-")
    clone = os.path.join(root, "memcap")
    subprocess.run(["git", "clone", "--quiet", os.getcwd(), clone], check=True)
    env = {**os.environ, "PATH": os.path.join(clone, ".venv", "bin") + os.pathsep
           + os.environ["PATH"]}
    env.pop("VIRTUAL_ENV", None)
    if subprocess.run(["git", "rev-parse", "--verify", "-q", "main"], cwd=clone,
                      capture_output=True).returncode:  # a clone of a branch: main as on GitHub
        subprocess.run(["git", "branch", "main", "origin/main"], cwd=clone, check=False,
                       capture_output=True)
    failed, state = 0, []
    for k, (cmd, want) in enumerate(cmds, 1):
        head = cmd.splitlines()[0]
        if want is None:
            print(f"[{k}/{len(cmds)}] skipped (marked): {head}", flush=True)
            continue
        t0 = time.perf_counter()
        # a shell's state (export, VAR=...) carries to the commands after it, as in one shell
        rc = subprocess.run(["bash", "-c", "\n".join([*state, cmd])], cwd=clone, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        took = time.perf_counter() - t0
        if _STATE.match(cmd):
            state.append(cmd)
        ok = rc.returncode == want
        failed += not ok
        print(f"[{k}/{len(cmds)}] {'ok  ' if ok else 'FAIL'} exit {rc.returncode} (README: "
              f"{want}) {took:6.1f}s  {head}", flush=True)
        if not ok:
            print("      " + "\n      ".join(rc.stderr.strip().splitlines()[-5:]), flush=True)
    left = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                          capture_output=True, text=True).stdout.split("\n")
    left = [x for x in left if x.strip()]
    if left:
        failed += 1
        print("untracked or changed files left in the clone:\n  " + "\n  ".join(left))
    print(f"readme-check: {len(cmds)} commands, {failed} problems; clone: {clone}")
    if not args.keep and not failed:
        subprocess.run(["rm", "-rf", root], check=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
