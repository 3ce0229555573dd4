"""The content of a report, independent of its output format.

A report is a list of :class:`Section` s, each a list of blocks: :class:`Heading`,
:class:`Paragraph`, :class:`Note`, :class:`Bullets`, :class:`Table`, :class:`Figure`,
:class:`Code` and :class:`Math`. The macro that writes a block, in ``templates/blocks.md.j2``
and ``templates/blocks.html.j2``, is named after its class (``kind``: ``Table`` → ``table``), so
both formats show the same content and a new block type is a class and two macros.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Block",
    "Bullets",
    "Cell",
    "Code",
    "Figure",
    "Heading",
    "Math",
    "Note",
    "Paragraph",
    "Report",
    "Section",
    "Table",
]

#: a cell that reads as a number (or the "no value" dash): its column is right-aligned
_NUMERIC = re.compile(r"^[-+−]?(\d|\.\d|nan|inf|–$)")


class _Kind:
    """Names the template macro that writes a block: its class name in lower case."""

    @property
    def kind(self) -> str:
        """The macro of ``templates/blocks.*.j2`` that writes this block."""
        return type(self).__name__.lower()


@dataclass
class Heading(_Kind):
    """A sub-heading inside a section (level 3 under the section's level-2 title)."""

    text: str
    level: int = 3


@dataclass
class _Text(_Kind):
    text: str


@dataclass
class Paragraph(_Text):
    """A paragraph of plain text."""


@dataclass
class Note(_Text):
    """A highlighted remark (a missing file, a figure that could not be drawn)."""


@dataclass
class Code(_Text):
    """Preformatted text (the readable equations)."""


@dataclass
class Bullets(_Kind):
    """A bulleted list of sentences."""

    items: list[str]


@dataclass
class Math(_Kind):
    """LaTeX equations, one per item."""

    equations: list[str]


@dataclass
class Cell:
    """One table cell: text and whether it is the best of its column."""

    text: str
    bold: bool = False


@dataclass
class Table(_Kind):
    """A table with a header row, a caption, an optional title and a CSS class (``css``)."""

    headers: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    title: str = ""
    css: str = ""

    @property
    def numeric(self) -> list[bool]:
        """Per column: every cell reads as a number (the first column never does)."""
        return [
            j > 0 and all(_NUMERIC.match(row[j].text) for row in self.rows if j < len(row))
            for j in range(len(self.headers))
        ]


@dataclass
class Figure(_Kind):
    """A rendered figure: ``key`` names the PNG file under ``figures/``."""

    key: str
    title: str
    caption: str
    png: bytes

    @property
    def filename(self) -> str:
        """The PNG file name."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.key) + ".png"

    @property
    def base64(self) -> str:
        """The PNG as base64 text, for an inline ``data:`` URL."""
        return base64.b64encode(self.png).decode("ascii")


Block = Heading | Paragraph | Note | Bullets | Code | Math | Table | Figure


@dataclass
class Section:
    """A titled section of the report."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def groups(self) -> list[tuple[bool, list[Block]]]:
        """The blocks in runs ``(is_tables, blocks)``: consecutive tables form one run (the
        HTML page sets them side by side where they fit)."""
        runs: list[tuple[bool, list[Block]]] = []
        for block in self.blocks:
            is_table = isinstance(block, Table)
            if is_table and runs and runs[-1][0]:
                runs[-1][1].append(block)
            else:
                runs.append((is_table, [block]))
        return runs


@dataclass
class Report:
    """The report's content, before it is written as Markdown or HTML."""

    title: str
    subtitle: str
    sections: list[Section]
    summary: dict[str, Any]

    @property
    def figures(self) -> list[Figure]:
        """Every figure of the report, in reading order."""
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]
