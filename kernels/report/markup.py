"""HTML markup shared by the report's sections: escaping, number formatting, tables (numbers
right-aligned) and figures at their layout size."""

from __future__ import annotations

import base64
import html
import re
import struct

from kernels.report.style import LAYOUT_DPI, SAVE_DPI

_NUMERIC = re.compile(r"^(–|[+\-−]?[0-9][0-9.,eE+\-]*\s*%?)$")


def _e(x) -> str:
    return html.escape(str(x))


def _num(v, digits=3) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return _e(v)


def _align(cell: str, i: int, left: int) -> str:
    """Numbers right-aligned, text (and the first ``left`` columns) left-aligned."""
    text = re.sub(r"<[^>]+>", "", str(cell))
    return "n" if i >= left and text.strip() and _NUMERIC.match(text) else "l"


def table(head, rows, left=1) -> str:
    rows = list(rows)
    num = [all(_align(r[i], i, left) == "n" for r in rows if i < len(r) and str(r[i]).strip())
           and i >= left for i in range(len(head))]
    h = "".join(f'<th class="{"n" if num[i] else "l"}">{_e(c)}</th>' for i, c in enumerate(head))
    body = []
    for r in rows:
        cells = "".join(f'<td class="{_align(c, i, left)}">{c}</td>' for i, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{h}</tr>{''.join(body)}</table>"


def figure_html(title: str, img: str, caption: str) -> str:
    """A ``<figure>`` at its layout size: the PNG holds 2× the pixels (style.SAVE_DPI)."""
    w, h = struct.unpack(">II", base64.b64decode(img[:32])[16:24])
    k = SAVE_DPI // LAYOUT_DPI
    return (f'<figure><img alt="{_e(title)}" width="{w // k}" height="{h // k}" '
            f'src="data:image/png;base64,{img}"><figcaption>{_e(caption)}</figcaption></figure>')
