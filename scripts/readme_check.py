"""Run every shell command of README.md, in order, on a fresh clone, as a newcomer would.

Each ```sh block is split into commands (a line, its ``\\`` continuations, a ``for … done``
loop).  A command whose comment carries a mark is not run: ``[server]`` (blocks: a scheduler, a
preview server), ``[cluster]`` (needs other machines), ``[network]`` (needs the internet).
``[exit N]`` says the command exits N, ``[exit 0|1]`` either (default 0).  After the last command
the clone must hold no untracked or changed file (generated files go under reports/ or another
ignored folder).  The clone gets its own empty cell cache (``MEMCAP_CACHE_DIR``), as a newcomer's
machine has, so the run neither reads nor clears yours.

One line per command (its number, ok or FAIL, exit status, seconds), a summary at the end; exit 1
when a command exits otherwise than the README says or a file is left.  Each command's output
is kept in ``logs/`` beside the clone.

    python scripts/readme_check.py                 # clones this checkout's HEAD into a temp dir
    python scripts/readme_check.py --list          # the commands, marked, without running them
    python scripts/readme_check.py --clone DIR --from 12   # go on in a kept clone from command 12
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SKIP = ("[server]", "[cluster]", "[network]")
_EXIT = re.compile(r"\[exit (\d+(?:\|\d+)*)\]")
_STATE = re.compile(r"^(export |[A-Za-z_]\w*=)")


def commands(text: str) -> list[tuple[str, tuple[int, ...] | None]]:
    """[(command, the exit statuses the README allows, or None when it is marked to skip)] of
    the ```sh blocks, in order."""
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
            want = tuple(int(s) for s in m.group(1).split("|")) if m else (0,)
            out.append((cmd, None if any(s in marks for s in SKIP) else want))
    return out


def untracked(clone: str) -> tuple[list[str], list[str]]:
    """(untracked files, changed tracked files) of ``clone``, as ``git status --porcelain``."""
    lines = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    return ([x[3:] for x in lines if x.startswith("??")],
            [x[3:] for x in lines if x.strip() and not x.startswith("??")])


def _run(script: str, clone: str, env: dict, log: str, timeout: float) -> int:
    """Exit status of ``script`` in bash (its own process group, killed on timeout: 124)."""
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.Popen(["bash", "-c", script], cwd=clone, env=env, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            f.write(f"\nreadme-check: killed after {timeout:.0f}s\n")
            return 124


def _clone(root: str) -> str:
    clone = os.path.join(root, "memcap")
    subprocess.run(["git", "clone", "--quiet", os.getcwd(), clone], check=True)
    if subprocess.run(["git", "rev-parse", "--verify", "-q", "main"], cwd=clone,
                      capture_output=True).returncode:  # a clone of a branch: main as on GitHub
        subprocess.run(["git", "branch", "main", "origin/main"], cwd=clone, check=False,
                       capture_output=True)
    return clone


def run_all(cmds: list, clone: str, env: dict, logs: str, start: int = 1,
            timeout: float = 3600) -> tuple[int, list[int], list[int]]:
    """Run ``cmds`` from number ``start`` on, one line printed each; (how many ran, the numbers
    skipped, the numbers that failed)."""
    failed, skipped, ran, state = [], [], 0, []
    for k, (cmd, want) in enumerate(cmds, 1):
        head = cmd.splitlines()[0].split("  #")[0].strip()
        if k < start:
            if want is not None and _STATE.match(cmd):
                state.append(cmd)
            continue
        if want is None:
            skipped.append(k)
            mark = next(s for s in SKIP if s in cmd)
            print(f"{k:3d} skip   marked {mark}  {head}", flush=True)
            continue
        log = os.path.join(logs, f"{k:03d}.log")
        t0 = time.perf_counter()
        # a shell's state (export, VAR=...) carries to the commands after it, as in one shell
        rc = _run("\n".join([*state, cmd]), clone, env, log, timeout)
        took = time.perf_counter() - t0
        ran += 1
        if _STATE.match(cmd):
            state.append(cmd)
        ok = rc in want
        print(f"{k:3d} {'ok  ' if ok else 'FAIL'}   exit {rc:<3d} {took:7.1f}s  {head}"
              + ("" if ok else f"   (README: exit {'|'.join(map(str, want))}; log {log})"),
              flush=True)
        if not ok:
            failed.append(k)
            with open(log, encoding="utf-8", errors="replace") as f:
                tail = f.read().strip().splitlines()[-5:]
            print("       " + "\n       ".join(tail), flush=True)
    return ran, skipped, failed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--list", action="store_true", help="print the commands, run nothing")
    ap.add_argument("--keep", action="store_true", help="keep the clone (kept anyway on failure)")
    ap.add_argument("--clone", metavar="DIR", help="use this clone (from an earlier --keep run)")
    ap.add_argument("--from", dest="start", type=int, default=1, metavar="K",
                    help="start at command K (the shell state of the commands before is kept)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds a command may take")
    ap.add_argument("--browser", action="store_true",
                    help="then open every report the README made in headless Chromium "
                         "(scripts/browser_check.py; screenshots beside the clone)")
    args = ap.parse_args(argv)
    with open(args.readme, encoding="utf-8") as f:
        cmds = commands(f.read())
    if args.list:
        for k, (cmd, want) in enumerate(cmds, 1):
            mark = "skip  " if want is None else "exit " + "|".join(map(str, want)) + " "
            print(f"{k:3d} {mark} " + cmd.replace("\n", "\n" + " " * 11))
        return 0
    if args.clone:
        clone, root = os.path.abspath(args.clone), os.path.dirname(os.path.abspath(args.clone))
    else:
        root = tempfile.mkdtemp(prefix="memcap-readme-")
        clone = _clone(root)
    logs = os.path.join(root, "logs")
    os.makedirs(logs, exist_ok=True)
    env = {**os.environ, "PATH": os.path.join(clone, ".venv", "bin") + os.pathsep
           + os.environ["PATH"], "MEMCAP_CACHE_DIR": os.path.join(root, "cell-cache")}
    env.pop("VIRTUAL_ENV", None)
    print(f"readme-check: {len(cmds)} commands of {args.readme} in {clone}", flush=True)
    t_all = time.perf_counter()
    ran, skipped, failed = run_all(cmds, clone, env, logs, args.start, args.timeout)
    new, changed = untracked(clone)  # before the browser check, which writes outside the clone
    browser = None
    if args.browser:
        print("browser check of every report the README made:", flush=True)
        check = os.path.join(clone, "scripts", "browser_check.py")
        browser = subprocess.run([sys.executable, check, "--shots",
                                  os.path.join(root, "screenshots")], cwd=clone, env=env).returncode
    for what, files in (("untracked", new), ("changed", changed)):
        if files:
            print(f"{len(files)} {what} file(s) left in the clone:\n  " + "\n  ".join(files))
    took = time.perf_counter() - t_all
    bad = bool(failed or new or changed or browser)
    print(f"readme-check: {ran} run, {len(skipped)} skipped (marked), {len(failed)} failed"
          + (f" ({', '.join(map(str, failed))})" if failed else "")
          + f", {len(new)} untracked and {len(changed)} changed files; "
          f"{took // 60:.0f} min {took % 60:.0f} s"
          + ("" if browser is None else f"; browser check exit {browser}") + f"; clone {clone}")
    if not (args.keep or args.clone or bad):
        subprocess.run(["rm", "-rf", root], check=False)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
