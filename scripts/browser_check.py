"""Open the report's pages in headless Chromium at 1280 px: a full-page screenshot of each, and a
check that no table, figure or image is wider than the page or scrolls sideways.

Chromium runs scripts only in a copy of each page (the report itself has none): a small
measuring step is appended to the copy, and ``--dump-dom`` returns what it found.  Debian's
``chromium`` package is installed with apt-get when no Chromium is on PATH.

    python scripts/browser_check.py           # reports/: index.html, history.html, */index.html
    python scripts/browser_check.py reports/all/ /tmp/other/index.html --shots /tmp/shots
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

WIDTH = 1280
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--hide-scrollbars"]
MEASURE = """<script>
(function(){var W=document.documentElement.clientWidth,bad=[];
document.querySelectorAll('table,figure,img,pre').forEach(function(el,i){
 var r=el.getBoundingClientRect();
 if(r.right>W+0.5||el.scrollWidth>el.clientWidth+1){
  bad.push(el.tagName.toLowerCase()+' #'+i+' right '+Math.round(r.right)+' scroll '+
           el.scrollWidth+'/'+el.clientWidth+' '+(el.textContent||el.alt||'').slice(0,40));}});
var out={width:W,page:document.documentElement.scrollWidth,
         height:document.documentElement.scrollHeight,bad:bad};
var pre=document.createElement('pre');pre.id='memcap-measure';pre.textContent=JSON.stringify(out);
document.body.appendChild(pre);})();
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    apt = ["apt-get", "install", "-y", "-q", "chromium"]
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise SystemExit("browser-check: no Chromium on PATH, and installing Debian's "
                             "chromium needs root (no sudo here): apt-get install chromium")
        apt = ["sudo", *apt]
    print(f"browser-check: no Chromium on PATH; installing Debian's chromium ({' '.join(apt)})",
          flush=True)
    if subprocess.run(apt).returncode or not shutil.which("chromium"):
        raise SystemExit(f"browser-check: `{' '.join(apt)}` did not install chromium")
    return shutil.which("chromium")


def pages_of(paths: list[str]) -> list[str]:
    """The HTML pages to check: each file named, each folder's index.html and history.html;
    with nothing named, reports/ and every report folder below it."""
    if not paths:
        paths = ["reports", *sorted(os.path.join("reports", d) for d in os.listdir("reports")
                                    if os.path.isdir(os.path.join("reports", d)))] \
            if os.path.isdir("reports") else []
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += [os.path.join(p, f) for f in ("index.html", "history.html")
                    if os.path.isfile(os.path.join(p, f))]
        else:
            out.append(p)
    return out


def measure(browser: str, page: str) -> dict:
    with open(page, encoding="utf-8") as f:
        text = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "page.html")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text.replace("</body>", MEASURE + "</body>"))
        dom = subprocess.run([browser, *FLAGS, f"--window-size={WIDTH},900", "--dump-dom",
                              "file://" + copy], capture_output=True, text=True, timeout=120,
                             check=True).stdout
    m = re.search(r'<pre id="memcap-measure">(.*?)</pre>', dom, re.S)
    if not m:
        raise RuntimeError(f"{page}: Chromium returned no measurement")
    return json.loads(html.unescape(m.group(1)))


def screenshot(browser: str, page: str, height: int, out: str) -> None:
    subprocess.run([browser, *FLAGS, f"--window-size={WIDTH},{height}", f"--screenshot={out}",
                    "file://" + os.path.abspath(page)], capture_output=True, timeout=120,
                   check=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pages", nargs="*", help="HTML pages or report folders (default: "
                                             "reports/ and every folder in it that holds a "
                                             "report: index.html, history.html)")
    ap.add_argument("--shots", default="reports/screenshots", help="where screenshots go")
    args = ap.parse_args(argv)
    pages = pages_of(args.pages)
    if not pages:
        print("browser-check: no page (run `make report` first)", file=sys.stderr)
        return 2
    browser = chromium()
    os.makedirs(args.shots, exist_ok=True)
    problems = 0
    for page in pages:
        m = measure(browser, page)
        full = os.path.abspath(page)
        name = f"{os.path.basename(os.path.dirname(full))}_{os.path.basename(full)[:-5]}.png"
        shot = os.path.join(args.shots, name)
        screenshot(browser, page, min(m["height"], 16000), shot)
        wide = m["page"] > m["width"]
        problems += len(m["bad"]) + wide
        print(f"{'FAIL' if m['bad'] or wide else 'ok  '} {page}: {m['width']} px wide, "
              f"page {m['page']} × {m['height']} px, "
              f"{len(m['bad'])} elements too wide{' (the page scrolls sideways)' if wide else ''}"
              f"; screenshot {shot}")
        for b in m["bad"]:
            print("  " + b)
    print(f"browser-check: {len(pages)} pages, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
