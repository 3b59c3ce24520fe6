"""Sphinx directive ``exit-codes``: the exit-code table of an AiiDA process, read from its spec.

The directives of ``aiida.sphinxext`` document inputs, outputs and the outline, not exit codes.
This one reads ``Process.spec().exit_codes`` at build time, so the table cannot drift from the code.

Usage (MyST)::

    ```{exit-codes} aiida_superionic.calculations.ase.AseCalculation
    ```

By default only the codes the class adds to its aiida-core base class are listed; the flag
``:inherited:`` lists aiida-core's generic codes too.

``all-exit-codes`` lists every process of the plugin, found by its ``superionic.`` entry point: a table per
CalcJob and WorkChain from its spec, and for the calcfunctions the exit statuses their modules name
(``ERROR_<NAME> = <status>``; a calcfunction has no spec of its own codes). A process added to
``pyproject.toml`` appears without editing the page.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective


def _core_exit_code_labels(process_class) -> set[str]:
    """Return the labels of the exit codes that the nearest aiida-core base class defines."""
    for base in process_class.__mro__[1:]:
        if base.__module__.startswith('aiida.') and hasattr(base, 'spec'):
            return set(base.spec().exit_codes.keys())
    return set()


class ExitCodesDirective(SphinxDirective):
    """Render a table (status, label, message) of the exit codes of a process class."""

    required_arguments = 1
    has_content = False
    option_spec = {'inherited': directives.flag}

    def run(self):
        from aiida.common.utils import get_object_from_string

        process_class = get_object_from_string(self.arguments[0])
        exit_codes = process_class.spec().exit_codes
        hidden = set() if 'inherited' in self.options else _core_exit_code_labels(process_class)
        rows = sorted(
            ((code.status, label, code.message) for label, code in exit_codes.items() if label not in hidden),
            key=lambda row: row[0],
        )

        return [
            build_table(
                ('Status', 'Label', 'Message'),
                [(str(status), label, message) for status, label, message in rows],
                widths=(10, 30, 60),
                literal_columns=(0, 1),
                classes=['exit-codes'],
            )
        ]


def plugin_processes() -> list[tuple[str, object]]:
    """``(entry point name, process)`` of every ``superionic.`` calculation and workflow, sorted by name."""
    from importlib.metadata import entry_points

    found = []
    for group in ('aiida.calculations', 'aiida.workflows'):
        for entry_point in entry_points(group=group):
            if entry_point.name.startswith('superionic.'):
                found.append((entry_point.name, entry_point.load()))
    return sorted(found, key=lambda item: item[0])


def exit_code_rows(process) -> list[tuple[str, str, str]]:
    """``(status, label, message)`` rows of a process: its own spec codes, or a calcfunction's named statuses."""
    import sys

    if hasattr(process, 'spec') and not getattr(process, 'is_process_function', False):
        hidden = _core_exit_code_labels(process)
        codes = process.spec().exit_codes
        rows = [(code.status, label, code.message) for label, code in codes.items() if label not in hidden]
    else:
        module = sys.modules[process.__module__]
        doc = 'returned by the calcfunction with the reason in the exit message'
        rows = [
            (value, name, doc)
            for name, value in vars(module).items()
            if name.startswith('ERROR_') and isinstance(value, int) and not isinstance(value, bool)
        ]
    return [(str(status), label, message) for status, label, message in sorted(rows)]


class AllExitCodesDirective(SphinxDirective):
    """A heading (rubric) and an exit-code table for every process of the plugin, from its entry point."""

    has_content = False

    def run(self):
        result = []
        for name, process in plugin_processes():
            rows = exit_code_rows(process)
            rubric = nodes.rubric()
            rubric += nodes.literal(text=name)
            rubric += nodes.Text(f' — {process.__name__}')
            result.append(rubric)
            if rows:
                result.append(
                    build_table(
                        ('Status', 'Label', 'Message'),
                        rows,
                        widths=(10, 30, 60),
                        literal_columns=(0, 1),
                        classes=['exit-codes'],
                    )
                )
            else:
                paragraph = nodes.paragraph(text='Only the generic codes of aiida-core.')
                result.append(paragraph)
        return result


def build_table(header, rows, widths, literal_columns=(), classes=()) -> nodes.table:
    """Return a docutils table with a header row; body cells in ``literal_columns`` are set as code."""
    table = nodes.table(classes=list(classes))
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += table_row(header)
    body = nodes.tbody()
    group += body
    for cells in rows:
        body += table_row(cells, literal_columns)
    return table


def table_row(cells, literal_columns=()) -> nodes.row:
    """Return a docutils table row; the cells whose index is in ``literal_columns`` are set as code."""
    row = nodes.row()
    for index, text in enumerate(cells):
        entry = nodes.entry()
        paragraph = nodes.paragraph()
        paragraph += nodes.literal(text=text) if index in literal_columns else nodes.Text(text)
        entry += paragraph
        row += entry
    return row


def setup(app):
    app.add_directive('exit-codes', ExitCodesDirective)
    app.add_directive('all-exit-codes', AllExitCodesDirective)
    return {'version': '1.0', 'parallel_read_safe': True, 'parallel_write_safe': True}
