"""Sphinx extension: read ``|`` in the package's docstrings as a plain character.

The docstrings write absolute values and norms the way physicists do, ``|α − 1|`` or
``|FFT v_i|²``. reStructuredText reads ``|...|`` as a substitution reference and fails the
build (``-W``). The package never uses substitutions, so every ``|`` outside an inline literal or
role is escaped before autodoc hands the docstring to the parser; inside ````...```` and
```...``` it is left alone (it is literal there already). The same is done for the port help texts that
the ``aiida-workchain`` directive renders (:func:`escape_port_help`).
"""

from __future__ import annotations

import io
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


def escape_port_help() -> None:
    """Escape the bars of the port help texts that ``aiida.sphinxext`` renders.

    The ``aiida-workchain`` and ``aiida-calcjob`` directives parse each port's ``help`` with
    docutils' ``publish_doctree``, outside Sphinx: an unescaped ``|b_i|`` there is not a Sphinx
    warning but a "problematic" node in the page. The wrapper escapes the bars as above and turns any
    markup problem that remains into a Sphinx warning, so ``-W`` catches it.
    """
    from aiida.sphinxext import process
    from docutils import nodes
    from sphinx.util import logging

    original = process.publish_doctree
    if getattr(original, 'escapes_bars', False):
        return
    logger = logging.getLogger(__name__)

    def publish_doctree(source, *args, **kwargs):
        if isinstance(source, str):
            source = '\n'.join(_escape(line) for line in source.split('\n'))
        kwargs.setdefault('settings_overrides', {'warning_stream': io.StringIO()})
        document = original(source, *args, **kwargs)
        problems = [node.astext() for node in document.findall(nodes.problematic)]
        problems += [node.astext() for node in document.findall(nodes.system_message) if node['level'] >= 2]
        if problems:
            logger.warning('port help %r does not parse as reStructuredText: %s', source[:80], problems)
        return document

    publish_doctree.escapes_bars = True
    process.publish_doctree = publish_doctree


def setup(app):
    app.connect('autodoc-process-docstring', escape_bars)
    escape_port_help()
    return {'version': '1.0', 'parallel_read_safe': True, 'parallel_write_safe': True}
