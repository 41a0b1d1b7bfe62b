"""The consoles every command prints through, made for output that is read later as well as
in a terminal.

- Markup is off. Messages carry user data and install hints (paths, ``pip install
  'kdaug[plot]'``) whose square brackets rich would otherwise take for style tags and drop;
  the few styled words are passed as ``rich.text.Text`` with an explicit style.
- When the stream is not a terminal (a log file, ``tee``, CI, a cluster job), nothing is
  wrapped: rich would lay everything out at 80 columns (or $COLUMNS) and split epoch lines,
  table rows and numbers. Tables there take their natural width; full-width decorations
  (rules) are drawn at ``RULE_WIDTH``.
"""
from __future__ import annotations

from rich.console import Console, ConsoleDimensions
from rich.rule import Rule
from rich.text import Text

LOG_WIDTH = 1000   # "no limit" for lines that are not shown on a terminal
RULE_WIDTH = 100   # a rule in a log: as wide as the help text, not LOG_WIDTH


class KdaugConsole(Console):
    """A rich Console that never wraps when its stream is not a terminal. The stream is
    looked up at each print (as rich does), so redirections made after start-up count."""

    def _size(self) -> ConsoleDimensions:
        if self.is_terminal:
            return Console.size.fget(self)
        return ConsoleDimensions(LOG_WIDTH, 25)

    size = property(_size, Console.size.fset)

    def heading(self, title: str) -> None:
        """A titled rule: terminal-wide on a terminal, RULE_WIDTH in a log."""
        self.print(Rule(Text(title)), width=min(self.width, RULE_WIDTH))


def make_console(stderr: bool = False) -> KdaugConsole:
    return KdaugConsole(stderr=stderr, markup=False, soft_wrap=False)


def styled(*parts) -> Text:
    """Text from plain strings and (string, style) pairs; brackets stay as written."""
    return Text.assemble(*parts)
