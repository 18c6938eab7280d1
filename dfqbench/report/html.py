"""The HTML of the report: the Markdown this project's tables render to, as HTML, and the page around it.

Only what the tables use is converted: pipe tables (with their alignment row), paragraphs, ``**bold**``,
``*italic*`` and backquoted code; everything else is escaped text. No script, no external resource: the page is
read offline and its bytes depend on its content alone.
"""

from __future__ import annotations

import base64
import html
import re

INLINE = [(re.compile(r"\*\*(.+?)\*\*"), r"<b>\1</b>"), (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"),
                                                          r"<i>\1</i>"), (re.compile(r"`([^`]+)`"), r"<code>\1</code>")]
STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; background: #fff; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; }
th { background: #eee; }
td.r, th.r { text-align: right; }
img { max-width: 100%; display: block; margin: 0.6em 0; }
p.gap { background: #fff4e0; border-left: 4px solid #e69f00; padding: 0.4em 0.8em; }
nav a { margin-right: 1em; }
"""


def inline(text: str) -> str:
    """Escaped text with the Markdown emphasis and code of the tables as HTML."""
    out = html.escape(text, quote=False)
    for pattern, replacement in INLINE:
        out = pattern.sub(replacement, out)
    return out


def split_row(line: str) -> list[str]:
    """The cells of '| a | b\\|c |' (an escaped pipe stays in its cell)."""
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|") if line.strip() != "|" else "")
    return [cell.strip().replace("\\|", "|") for cell in cells]


def table_html(lines: list[str]) -> str:
    header, align, rows = split_row(lines[0]), split_row(lines[1]), [split_row(line) for line in lines[2:]]
    right = [a.endswith(":") and not a.startswith(":") for a in align]

    def cells(tag: str, values: list[str]) -> str:
        return "".join(f'<{tag}{" class=r" if right[i] else ""}>{inline(v)}</{tag}>' for i, v in enumerate(values))

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"


def markdown_html(text: str) -> str:
    """The report's HTML of a Markdown table file: tables and paragraphs."""
    blocks, current = [], []
    for line in text.splitlines() + [""]:
        if line.strip():
            current.append(line)
            continue
        if current:
            is_table = all(line.lstrip().startswith("|") for line in current) and len(current) >= 2
            blocks.append(table_html(current) if is_table else f"<p>{inline(' '.join(current))}</p>")
            current = []
    return "\n".join(blocks)


def image_html(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def gap_html(text: str) -> str:
    """A stated gap: what is missing and the command that fills it."""
    return f'<p class="gap">{inline(text)}</p>'


def page(title: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole page: ``sections`` as (anchor, heading, body HTML), with a table of contents."""
    nav = "".join(f'<a href="#{anchor}">{html.escape(heading)}</a>' for anchor, heading, _ in sections)
    body = "\n".join(f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>\n{content}\n</section>'
                     for anchor, heading, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1>\n<nav>{nav}</nav>\n{body}\n"
            "</body></html>\n")
