"""Which pages the browser check opens (scripts/browser_check.py): every report folder's page.
Chromium itself is not run here (`make browser-check` does, outside CI)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("browser_check", ROOT / "scripts/browser_check.py")
browser_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser_check)


def test_pages_are_the_reports_of_every_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for page in ("reports/index.html", "reports/history.html", "reports/trees/index.html",
                 "reports/sparsity/index.html", "reports/screenshots/a.png",
                 "reports/dask/results.json", "other/index.html"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text("x")
    assert browser_check.pages_of([]) == [
        "reports/index.html", "reports/history.html", "reports/sparsity/index.html",
        "reports/trees/index.html"]
    assert browser_check.pages_of(["other", "reports/trees/index.html"]) == [
        "other/index.html", "reports/trees/index.html"]
