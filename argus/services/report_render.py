"""A usage report as CSV or as one self-contained HTML page with inline SVG charts (no scripts,
no CDN: it opens offline and can be mailed)."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import datetime, timezone
from typing import Any

COLUMNS = ("gpu_hours", "tasks_submitted", "tasks_succeeded", "tasks_failed", "tasks_cancelled", "starts",
           "wait_p50_seconds", "wait_p95_seconds", "preemptions")
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def as_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    by = report["by"]
    writer.writerow([by, *COLUMNS, "failures_by_reason"])
    for row in report["rows"]:
        writer.writerow([row[by], *(("" if row[c] is None else row[c]) for c in COLUMNS),
                         json.dumps(row["failures_by_reason"], sort_keys=True)])
    return out.getvalue()


def _bars(rows: list[dict], by: str) -> str:
    width, bar, gap = 640, 22, 8
    top = max((r["gpu_hours"] for r in rows), default=0) or 1
    height = len(rows) * (bar + gap) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="GPU-hours per {by}">']
    for i, row in enumerate(rows):
        y = 5 + i * (bar + gap)
        length = (width - 260) * row["gpu_hours"] / top
        parts.append(f'<text x="0" y="{y + 16}" font-size="13">{html.escape(row[by] or "(none)")}</text>'
                     f'<rect x="150" y="{y}" width="{length:.1f}" height="{bar}" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{155 + length:.1f}" y="{y + 16}" font-size="12">{row["gpu_hours"]:g} GPU-h</text>')
    parts.append("</svg>")
    return "".join(parts)


def _lines(rows: list[dict], by: str, since: float, step: float) -> str:
    width, height, left, bottom = 640, 220, 40, 30
    top = max((v for r in rows for v in r["gpus_over_time"]), default=0) or 1
    n = len(rows[0]["gpus_over_time"]) if rows else 0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="GPUs in use over time per {by}">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#888"/>',
             f'<text x="0" y="12" font-size="11">{top:g}</text><text x="0" y="{height - bottom}" font-size="11">0</text>',
             f'<text x="{left}" y="{height - 8}" font-size="11">{iso(since)}</text>',
             f'<text x="{width - 150}" y="{height - 8}" font-size="11">{iso(since + step * n)}</text>']
    for i, row in enumerate(rows):
        points = " ".join(f"{left + (width - left) * (k + 0.5) / max(n, 1):.1f},"
                          f"{(height - bottom) - (height - bottom - 10) * v / top:.1f}"
                          for k, v in enumerate(row["gpus_over_time"]))
        parts.append(f'<polyline fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="2" points="{points}">'
                     f'<title>{html.escape(row[by] or "(none)")}</title></polyline>')
    parts.append("</svg>")
    return "".join(parts)


def legend_svg(rows: list[dict], by: str) -> str:
    """Colour keys as SVG (presentation attributes, no inline style: the web UI's CSP allows it)."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{18 * max(len(rows), 1)}">']
    for i, row in enumerate(rows):
        parts.append(f'<rect x="0" y="{18 * i + 3}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="18" y="{18 * i + 14}" font-size="12">{html.escape(row[by] or "(none)")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def charts(report: dict[str, Any]) -> dict[str, str]:
    """The three SVG pieces of a report, for a page that has its own layout (the web UI)."""
    by, rows = report["by"], report["rows"]
    return {"bars": _bars(rows, by), "legend": legend_svg(rows, by),
            "lines": _lines(rows, by, report["since"], report["bucket_seconds"])}


def as_html(report: dict[str, Any]) -> str:
    by, rows = report["by"], report["rows"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (by, *COLUMNS, "failures by reason"))
    body = "".join(
        "<tr>" + f"<td>{html.escape(r[by] or '(none)')}</td>"
        + "".join(f"<td>{'' if r[c] is None else r[c]}</td>" for c in COLUMNS)
        + f"<td>{html.escape(', '.join(f'{k}: {v}' for k, v in r['failures_by_reason'].items()) or '-')}</td></tr>"
        for r in rows)
    legend = legend_svg(rows, by)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Argus usage by {html.escape(by)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>Argus usage by {html.escape(by)}</h1>
<p>{iso(report['since'])} – {iso(report['until'])} ({html.escape(report['scope'])})</p>
<h2>GPU-hours</h2>{_bars(rows, by)}
<h2>GPUs in use over time</h2><p>{legend}</p>{_lines(rows, by, report['since'], report['bucket_seconds'])}
<h2>Table</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>
"""
