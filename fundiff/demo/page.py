"""A small, dependency-free writer of the demo's web page (``index.html`` beside its pictures).

A page is a list of sections; a section is a dict ``{"id", "title", "status", "seconds", "items"}``
and an item one of::

    {"kind": "image", "src": "images/a.png", "caption": "...", "width": 448}
    {"kind": "table", "columns": [...], "rows": [(label, [src, ...]), ...], "caption": "..."}
    {"kind": "text", "text": "..."}            {"kind": "pre", "text": "..."}
    {"kind": "missing", "text": "not implemented yet: denoise.iterative_denoise"}
    {"kind": "error", "text": "...", "detail": "traceback"}

Every ``src`` is relative to the page, so the folder works from the file system (no server, no
network, nothing loaded lazily).
"""
from __future__ import annotations

from html import escape
from pathlib import Path

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1em 2em 4em; color: #1d1d1f; background: #fff; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2.2em; border-bottom: 2px solid #ddd; padding-bottom: 0.2em; }
h2 .sid { color: #666; font-weight: 600; margin-right: 0.4em; }
h2 .time { float: right; font-size: 0.6em; color: #888; font-weight: normal; margin-top: 0.8em; }
.part { margin-top: 2.5em; font-size: 1.7em; color: #333; }
.meta { color: #555; font-size: 0.9em; } .meta code { background: #f3f3f3; padding: 0 0.3em; }
nav { columns: 2; font-size: 0.92em; background: #fafafa; border: 1px solid #eee; padding: 0.6em 1em; }
nav a { text-decoration: none; } nav .badge { font-size: 0.8em; }
figure { margin: 1.2em 0; } figcaption { color: #444; font-size: 0.9em; max-width: 900px; margin-top: 0.3em; }
img { image-rendering: pixelated; image-rendering: crisp-edges; border: 1px solid #ccc; vertical-align: top; }
table.grid { border-collapse: collapse; } table.grid td, table.grid th { padding: 3px 5px; text-align: center; }
table.grid th { font-size: 0.85em; font-weight: 600; color: #333; } table.grid td.label { font-size: 0.85em; text-align: right; }
.missing { background: #fff6dc; border-left: 4px solid #e0a800; padding: 0.5em 1em; margin: 0.8em 0; }
.error { background: #fde8e8; border-left: 4px solid #d33; padding: 0.5em 1em; margin: 0.8em 0; }
.error pre { font-size: 0.8em; white-space: pre-wrap; margin: 0.4em 0 0; }
pre.out { background: #f6f6f6; padding: 0.6em 1em; font-size: 0.85em; overflow-x: auto; }
.badge { display: inline-block; border-radius: 3px; padding: 0 0.4em; color: #fff; }
.ok { background: #2a8a3e; } .partial { background: #c98a00; } .todo { background: #b8860b; } .failed { background: #c33; }
"""

STATUS_TEXT = {"ok": "ok", "missing": "not implemented yet", "error": "error", "partial": "partly done"}
STATUS_CLASS = {"ok": "ok", "missing": "todo", "error": "failed", "partial": "partial"}


def _img(src: str, width: int | None = None, alt: str = "") -> str:
    w = f' width="{int(width)}"' if width else ""
    return f'<img src="{escape(src)}"{w} alt="{escape(alt)}">'


def render_item(item: dict) -> str:
    """HTML of one item (see the module docstring)."""
    kind = item["kind"]
    cap = f"<figcaption>{escape(item['caption'])}</figcaption>" if item.get("caption") else ""
    if kind == "image":
        return f"<figure>{_img(item['src'], item.get('width'), item.get('caption', ''))}{cap}</figure>"
    if kind == "table":
        head = "".join(f"<th>{escape(str(c))}</th>" for c in item.get("columns", []))
        rows = []
        for label, cells in item["rows"]:
            tds = "".join(f"<td>{_img(s, item.get('width'))}</td>" if s else "<td></td>" for s in cells)
            rows.append(f'<tr><td class="label">{escape(str(label))}</td>{tds}</tr>')
        thead = f"<tr><th></th>{head}</tr>" if head else ""
        return f'<figure><table class="grid">{thead}{"".join(rows)}</table>{cap}</figure>'
    if kind == "text":
        return f"<p>{escape(item['text'])}</p>"
    if kind == "pre":
        return f'<pre class="out">{escape(item["text"])}</pre>'
    if kind == "missing":
        return f'<div class="missing">{escape(item["text"])}</div>'
    if kind == "error":
        detail = f"<pre>{escape(item['detail'])}</pre>" if item.get("detail") else ""
        return f'<div class="error"><b>{escape(item["text"])}</b>{detail}</div>'
    raise ValueError(f"unknown page item kind {kind!r}")


def render_page(title: str, meta: list[str], sections: list[dict], parts: dict[str, str] | None = None) -> str:
    """The whole page.  ``parts`` maps a section-id prefix ('A', 'B') to a part heading."""
    parts = parts or {}
    nav = []
    body = []
    seen_parts = set()
    for s in sections:
        anchor = "s-" + s["id"].replace(".", "-")
        badge = f'<span class="badge {STATUS_CLASS[s["status"]]}">{STATUS_TEXT[s["status"]]}</span>'
        nav.append(f'<div><a href="#{anchor}">{escape(s["id"])} {escape(s["title"])}</a> {badge}</div>')
        prefix = s["id"][0]
        if prefix in parts and prefix not in seen_parts:
            seen_parts.add(prefix)
            body.append(f'<div class="part">{escape(parts[prefix])}</div>')
        secs = f'<span class="time">{s["seconds"]:.1f} s</span>' if s.get("seconds") is not None else ""
        body.append(f'<section id="{anchor}"><h2><span class="sid">{escape(s["id"])}</span>'
                    f'{escape(s["title"])} {badge}{secs}</h2>')
        if s.get("intro"):
            body.append(f"<p>{escape(s['intro'])}</p>")
        body.extend(render_item(it) for it in s["items"])
        body.append("</section>")
    metas = "".join(f"<div>{m}</div>" for m in meta)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><div class=\"meta\">{metas}</div>"
        f"<nav>{''.join(nav)}</nav>{''.join(body)}</body></html>\n"
    )


def write_page(path: str | Path, title: str, meta: list[str], sections: list[dict], parts=None) -> Path:
    """Write the page atomically (a temporary file renamed over ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_page(title, meta, sections, parts), encoding="utf-8")
    tmp.replace(path)
    return path
