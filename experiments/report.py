"""A small self-contained HTML report: one section per lens, figures as files next to it."""

import html
from collections.abc import Mapping, Sequence
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4em 0; }
p.lead { font-size: 1.05em; } .meta { color: #666; font-size: 0.85em; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


class Section:
    """One section: a title, one sentence on what it shows, numbers, figures (relative paths)."""

    def __init__(
        self,
        title: str,
        sentence: str,
        numbers: Mapping[str, Any],
        figures: Sequence[str] = (),
        table: Sequence[Sequence[Any]] | None = None,
    ):
        self.title, self.sentence, self.numbers = title, sentence, numbers
        self.figures, self.table = list(figures), table

    def html(self) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
            for k, v in self.numbers.items()
        )
        parts = [
            f"<h2>{html.escape(self.title)}</h2>",
            f"<p class='lead'>{html.escape(self.sentence)}</p>",
            f"<table>{rows}</table>",
        ]
        if self.table:
            head, *body = self.table
            parts.append(
                "<table><tr>"
                + "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                    for row in body
                )
                + "</table>"
            )
        parts += [
            f"<img src='{html.escape(path)}' alt='{html.escape(path)}'>" for path in self.figures
        ]
        return "\n".join(parts)


def render(title: str, intro: str, sections: Sequence[Section], meta: str) -> str:
    body = "\n".join(s.html() for s in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class='meta'>{html.escape(meta)}</p><p>{html.escape(intro)}</p>{body}"
        "</body></html>\n"
    )
