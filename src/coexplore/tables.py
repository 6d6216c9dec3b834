"""Tables that keep every figure whole in an 80-column terminal and in a pipe.

A narrow table has no vertical rules (two spaces between columns, a rule under the header) and
short headers. A figure column never wraps: rich would rather cut a figure that does not fit
("2,520" shown as "2…"), so the narrow views are laid out to fit 80 columns with the widest
figures they print. A text column folds instead of being cut. Text a reader does not need at
first (a device's family and board, what bounds a stage, each layer) is in the wide view
(`--wide`), printed at least WIDE columns wide whatever the terminal says.
tests/test_cli_tables.py renders every table at 80 columns and fails on a cut cell.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

WIDE = 160  # columns of the wide view


def numbered(index: int) -> str:
    """An FPGA or layer as people count them, from 1 (the designs store indices from 0). Every
    view (estimate's tables, the report's tables, figures and hover text) numbers so."""
    return str(index + 1)


def layer_span(first: int, last: int) -> str:
    """A stage's layers as people count them: '1-2' for the layers at indices 0 and 1."""
    return f"{numbered(first)}-{numbered(last)}"


def narrow_table(title: str | None = None) -> Table:
    """An empty table in the narrow style."""
    return Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


def add_figures(table: Table, *headers: str) -> None:
    """Right-aligned columns that never wrap (numbers, ratios, short codes)."""
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)


def add_texts(table: Table, *headers: str) -> None:
    """Left-aligned columns that fold a long value onto more lines rather than cut it."""
    for header in headers:
        table.add_column(header, justify="left", overflow="fold")


def with_notes(table: Table, notes: list[str], heading: str = "") -> Group:
    """The heading, the table, then each note as a line of its own: wrapped at the terminal's
    width, not at the table's, as a title or caption would be."""
    return Group(*([Text(heading)] if heading else []), table, *(Text(note) for note in notes))


def wide_console(console: Console) -> Console:
    """The same output, at least WIDE columns wide (the wide view may overflow a terminal)."""
    return Console(
        file=console.file,
        width=max(console.width, WIDE),
        force_terminal=console.is_terminal,
        no_color=console.no_color,
    )
