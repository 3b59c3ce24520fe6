"""Sphinx configuration of the aiida-superionic documentation (Sphinx + MyST).

Build with ``sphinx-build -W --keep-going -b html docs/source docs/build/html``.

The ``aiida-workchain`` and ``aiida-calcjob`` directives of ``aiida.sphinxext`` call
``aiida.load_profile()``, so a profile must be loadable. The build never needs a database: it
loads an in-memory ``core.sqlite_temp`` profile, and points ``AIIDA_PATH`` at a throw-away folder
first, so it neither reads nor writes the developer's ``~/.aiida`` and works on a clean machine
where no profile exists yet.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / '_ext'))

# Must happen before the first ``import aiida``: the configuration folder is read at import time.
if 'aiida' not in sys.modules:
    _AIIDA_PATH = tempfile.mkdtemp(prefix='superionic-docs-aiida-')
    (pathlib.Path(_AIIDA_PATH) / '.aiida').mkdir()  # existing, so aiida does not warn that it creates it
    os.environ['AIIDA_PATH'] = _AIIDA_PATH
    atexit.register(shutil.rmtree, _AIIDA_PATH, ignore_errors=True)


def _load_temporary_profile() -> None:
    """Load an in-memory profile (no database file, no broker) unless one is loaded already."""
    from aiida.manage import get_manager
    from aiida.storage.sqlite_temp import SqliteTempBackend

    if get_manager().get_profile() is not None:
        return
    get_manager().load_profile(SqliteTempBackend.create_profile('superionic-docs'), allow_switch=True)


_load_temporary_profile()

import aiida_superionic  # noqa: E402 (after the profile, so the directives find it)

# -- Project ---------------------------------------------------------------------------------------

project = 'aiida-superionic'
author = 'The aiida-superionic developers'
copyright = '2026, The aiida-superionic developers'
version = aiida_superionic.__version__
release = aiida_superionic.__version__

# -- General ---------------------------------------------------------------------------------------

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.mathjax',
    'sphinx-mathjax-offline',  # MathJax copied into the build: no CDN, the maths renders offline
    'aiida.sphinxext',
    'exit_codes',  # _ext/exit_codes.py: the exit-code tables, read from the process specs
    'descriptor_keys',  # _ext/descriptor_keys.py: the 54 keys of the table, read from the code
    'docstring_bars',  # _ext/docstring_bars.py: |x| in docstrings is an absolute value, not a substitution
]

source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['build', '_build', 'Thumbs.db', '.DS_Store']

myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'deflist']
myst_heading_anchors = 3

nitpicky = False

autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_default_options = {'members': True, 'show-inheritance': False}

# -- HTML ------------------------------------------------------------------------------------------

html_theme = 'alabaster'
html_title = f'aiida-superionic {release}'
html_theme_options = {
    'description': 'Ion-transport descriptors of solid-state electrolytes, with AiiDA provenance.',
    'fixed_sidebar': True,
    'page_width': '1100px',
}
html_static_path: list[str] = []
