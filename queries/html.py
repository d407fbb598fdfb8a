"""Small pieces of self-contained HTML: escaped tables, inline SVG figures, the page shell.

Nothing here refers to anything outside the page: styles are inline in the head, figures are
inline SVG, and there is no script, so a report opens offline and makes no request.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from eventstore.values import snap

from .units import duration

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1200px; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2.2rem;
     border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.sub { color: #666; margin-top: 0; } .note { color: #666; font-size: 12px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12px; margin: .3rem 0 .6rem; }
th, td { border: 1px solid #ddd; padding: 2px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.diff td, td.diff { background: #ffe3a3; font-weight: 600; }
nav a { margin-right: .8rem; } .figure svg { max-width: 100%; height: auto; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2rem; }
"""


def page(title: str, body: Iterable[str]) -> str:
    """A whole HTML document around ``body`` parts."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def cell(value: Any) -> str:
    """How a value reads in a report table (floats to 3 decimals, like the terminal)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{snap(value):.3f}" if abs(value) < 1e9 else f"{value:.4g}"
    if isinstance(value, Decimal):
        return cell(float(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def column_cell(column: str, value: Any) -> str:
    """How a value of ``column`` reads in a report table: a duration in milliseconds (a
    ``*_ms`` column) in its own unit to three significant digits, anything else as ``cell``."""
    if column.endswith("_ms") and isinstance(value, int | float) and not isinstance(value, bool):
        return duration(value)
    return cell(value)


def table(
    data: pa.Table | Sequence[dict[str, Any]],
    *,
    limit: int | None = None,
    highlight: Sequence[bool] | None = None,
    empty: str = "none",
    total: int | None = None,
) -> str:
    """An HTML table of ``data`` (first ``limit`` rows, with a note on the rest, of ``total``
    rows when ``data`` holds only the first ones); rows whose ``highlight`` flag is set are
    marked as differing. Durations (``*_ms`` columns, headed without the suffix) read in the
    unit that suits each one: ``180 ns``, not ``0.000``. Only the rows shown become Python
    values."""
    if isinstance(data, pa.Table):
        count, columns = data.num_rows, data.column_names
        shown = (data if limit is None else data.slice(0, limit)).to_pylist()
    else:
        rows = list(data)
        count, columns = len(rows), list(rows[0]) if rows else []
        shown = rows if limit is None else rows[:limit]
    if not count:
        return f'<p class="note">{esc(empty)}</p>'
    total = count if total is None else total
    head = "".join(f"<th>{esc(c.removesuffix('_ms'))}</th>" for c in columns)
    body = []
    for index, row in enumerate(shown):
        marked = ' class="diff"' if highlight is not None and highlight[index] else ""
        cells = "".join(
            f'<td class="num">{esc(column_cell(c, row[c]))}</td>'
            if isinstance(row[c], int | float | Decimal) and not isinstance(row[c], bool)
            else f"<td>{esc(column_cell(c, row[c]))}</td>"
            for c in columns
        )
        body.append(f"<tr{marked}>{cells}</tr>")
    note = ""
    if total > len(shown):
        note = (
            f'<p class="note">first {len(shown)} of {total} rows shown; '
            "the command line or SQL gives them all.</p>"
        )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{note}"
    )


def fields(row: dict[str, Any]) -> str:
    """One record as a two-column field | value table."""
    return table([{"field": k, "value": cell(v)} for k, v in row.items()])


def svg(figure: Figure) -> str:
    """A figure as inline SVG (text as paths: no fonts to fetch), without the XML prologue."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return f'<div class="figure">{text[text.index("<svg") :]}</div>'
