"""Sphinx directive ``descriptor-keys``: the 54 descriptor keys of the table, read from the code.

Usage (MyST)::

    ```{descriptor-keys}
    ```

Renders one table (key, category) from ``aiida_superionic.descriptors.keys``, so the page cannot
drift from the keys the merge writes.
"""

from __future__ import annotations

from exit_codes import build_table  # the docs' _ext folder is on sys.path (conf.py)
from sphinx.util.docutils import SphinxDirective


class DescriptorKeysDirective(SphinxDirective):
    """Render a table (number, key, category) of the 54 descriptor keys."""

    has_content = False

    def run(self):
        from aiida_superionic.descriptors.keys import DESCRIPTOR_CATEGORIES, DESCRIPTOR_KEYS

        rows = [(str(number), key, DESCRIPTOR_CATEGORIES[key]) for number, key in enumerate(DESCRIPTOR_KEYS, start=1)]
        return [
            build_table(
                ('#', 'Key', 'Category'), rows, widths=(6, 44, 30), literal_columns=(1,), classes=['descriptor-keys']
            )
        ]


def setup(app):
    app.add_directive('descriptor-keys', DescriptorKeysDirective)
    return {'version': '1.0', 'parallel_read_safe': True, 'parallel_write_safe': True}
