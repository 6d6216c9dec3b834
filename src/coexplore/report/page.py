"""HTML building blocks of the report: the page, sections, tables and embedded images.

Everything is escaped here, so callers pass plain text; the page needs no external asset.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from html import escape

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1280px; padding: 0 24px 48px; color: #222; }
h1 { margin-bottom: 4px; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
nav a { margin-right: 14px; }
.muted { color: #666; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 6px 10px; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; white-space: normal; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.hover-plot svg { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.hover-plot use.tip { cursor: pointer; }
.hover-plot use.tip:hover { stroke: #000; stroke-width: 2px; }
.tipbox { position: absolute; display: none; white-space: pre; pointer-events: none;
          background: #fffffb; border: 1px solid #888; border-radius: 4px; padding: 6px 9px;
          font: 12px/1.35 ui-monospace, monospace; box-shadow: 0 2px 6px rgba(0,0,0,.25);
          z-index: 10; }
"""

HOVER_SCRIPT = """
(function () {
  // Points of the hover plots carry a <title>; show its text at once in a box by the pointer
  // (the browser's own title tooltip is slow and small, so the title moves to a data field).
  var box = document.createElement("div");
  box.className = "tipbox";
  document.body.appendChild(box);
  function move(e) {
    box.style.left = (e.pageX + 14) + "px";
    box.style.top = (e.pageY + 14) + "px";
  }
  document.querySelectorAll(".hover-plot use.tip").forEach(function (point) {
    var title = point.querySelector("title");
    var text = title.textContent;
    point.setAttribute("aria-label", text);
    title.remove();
    point.addEventListener("mouseenter", function (e) {
      box.textContent = text;
      box.style.display = "block";
      move(e);
    });
    point.addEventListener("mousemove", move);
    point.addEventListener("mouseleave", function () { box.style.display = "none"; });
  });
})();
"""
"""Inline, so the report needs nothing from the network; without it the titles still show."""


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """A whole HTML document; ``sections`` are (anchor id, heading, body HTML)."""
    nav = " ".join(f'<a href="#{anchor}">{escape(heading)}</a>' for anchor, heading, _ in sections)
    body = "\n".join(
        f'<section id="{anchor}">\n<h2>{escape(heading)}</h2>\n{html}\n</section>'
        for anchor, heading, html in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<h1>{escape(title)}</h1>\n<p class="muted">{escape(subtitle)}</p>\n'
        f"<nav>{nav}</nav>\n{body}\n<script>{HOVER_SCRIPT}</script>\n</body>\n</html>\n"
    )


def image(uri: str, alt: str) -> str:
    """An embedded image (``uri`` is a data URI)."""
    return f'<img src="{uri}" alt="{escape(alt)}">'


def subheading(text: str) -> str:
    return f"<h3>{escape(text)}</h3>"


def paragraph(text: str, css_class: str = "") -> str:
    attr = f' class="{css_class}"' if css_class else ""
    return f"<p{attr}>{escape(text)}</p>"


def facts(items: Sequence[tuple[str, str]]) -> str:
    """A two-column list of name / value pairs."""
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<dl class="facts">{rows}</dl>'


def table(
    header: Sequence[str], rows: Sequence[Sequence[object]], text_columns: Collection[int] = ()
) -> str:
    """A table of numbers (right-aligned) except the ``text_columns`` (indices; left-aligned)."""

    def cell(tag: str, i: int, value: object) -> str:
        css = ' class="text"' if i in text_columns else ""
        return f"<{tag}{css}>{escape(str(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
