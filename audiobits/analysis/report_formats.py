"""Render one view of the report (its columns' formatted cells) as a terminal table, GitHub Markdown or a booktabs
LaTeX table. Pure string functions: the table (:mod:`audiobits.analysis.report`) chooses the columns and writes the
notes."""

from __future__ import annotations

import textwrap

from audiobits.analysis.report_columns import Column

MAX_CELL = 30  # terminal cells wider than this wrap onto continuation lines (never cut)
LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--"}


def cells(columns: list[Column], rows: list[dict]) -> list[list[str]]:
    """Each row's formatted cells, in column order."""
    return [[c.show(r) for c in columns] for r in rows]


def _wrapped(row: list[str], widths: list[int]) -> list[list[str]]:
    """One table row as one or more printed lines: a cell wider than its column continues on the next lines."""
    parts = [textwrap.wrap(v, w) or [""] for v, w in zip(row, widths)]
    return [[p[i] if i < len(p) else "" for p in parts] for i in range(max(map(len, parts)))]


def text(columns: list[Column], rows: list[dict], notes: list[str], width: int = 120) -> str:
    """Aligned plain-text table, then the notes wrapped at ``width``. A column is as wide as its widest cell (at
    most ``MAX_CELL``) or the longest word of its header; longer cells and headers wrap onto more lines."""
    shown = cells(columns, rows)
    widths = [max([min(len(row[i]), MAX_CELL) for row in shown] + [len(w) for w in c.header.split()])
              for i, c in enumerate(columns)]
    header = _wrapped([c.header for c in columns], widths)
    lines = header + [line for row in shown for line in _wrapped(row, widths)]
    printed = ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines]
    printed.insert(len(header), "  ".join("-" * w for w in widths))
    wrapped_notes = [textwrap.fill(n, width, subsequent_indent="  ") for n in notes]
    return "\n".join(printed + [""] + wrapped_notes) + "\n"


def markdown(columns: list[Column], rows: list[dict], notes: list[str]) -> str:
    """GitHub Markdown table, then the notes as a list."""
    header = "| " + " | ".join(c.header for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in cells(columns, rows)]
    return "\n".join([header, rule, *body, "", *(f"- {n}" for n in notes)]) + "\n"


def latex_escape(value: str) -> str:
    """``value`` with LaTeX's special characters escaped."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in value)


def latex(columns: list[Column], rows: list[dict], caption: str) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``): text columns left, numbers right."""
    shown = cells(columns, rows)
    align = "".join("l" if i < 2 else "r" for i in range(len(columns)))
    body = [" & ".join(latex_escape(v) for v in row) + r" \\" for row in shown]
    return "\n".join([r"\begin{table}", r"\centering", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
                      " & ".join(latex_escape(c.header) for c in columns) + r" \\", r"\midrule", *body,
                      r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(caption)}}}", r"\end{table}"]) + "\n"
