"""Sphinx extension: read ``|`` in the package's docstrings as a plain character.

The docstrings write absolute values and norms the way physicists do, ``|α − 1|`` or
``|FFT v_i|²``. reStructuredText reads ``|...|`` as a substitution reference and fails the
build (``-W``). The package never uses substitutions, so every ``|`` outside an inline literal or
role is escaped before autodoc hands the docstring to the parser; inside ````...```` and
```...``` it is left alone (it is literal there already).
"""

from __future__ import annotations

import re

#: Inline literals (````...````) and interpreted text (```...```, e.g. roles), kept as they are.
_PROTECTED = re.compile(r'(``.+?``|`[^`]+`)')


def _escape(line: str) -> str:
    parts = _PROTECTED.split(line)
    return ''.join(part if index % 2 else re.sub(r'(?<!\\)\|', r'\\|', part) for index, part in enumerate(parts))


def escape_bars(app, what, name, obj, options, lines) -> None:
    """``autodoc-process-docstring`` handler: escape the bars of this package's docstrings."""
    if not name.startswith('aiida_superionic'):
        return
    lines[:] = [_escape(line) for line in lines]


def setup(app):
    app.connect('autodoc-process-docstring', escape_bars)
    return {'version': '1.0', 'parallel_read_safe': True, 'parallel_write_safe': True}
