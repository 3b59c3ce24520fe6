"""The documentation builds with Sphinx, warnings as errors, without any AiiDA profile of the developer."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

DOCS_SOURCE = pathlib.Path(__file__).resolve().parents[1] / 'docs' / 'source'


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    pytest.importorskip('sphinx', reason='sphinx is not installed (install the `docs` extra)')
    pytest.importorskip('myst_parser', reason='myst-parser is not installed (install the `docs` extra)')

    # An empty AIIDA_PATH: the build must not need (nor touch) a profile of the developer's.
    aiida_path = tmp_path / 'aiida'
    aiida_path.mkdir()
    environment = {**os.environ, 'AIIDA_PATH': str(aiida_path)}
    command = [
        sys.executable,
        '-m',
        'sphinx',
        '-W',
        '--keep-going',
        '-b',
        'html',
        str(DOCS_SOURCE),
        str(tmp_path / 'html'),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)

    assert completed.returncode == 0, (
        f'sphinx-build failed with exit status {completed.returncode}\n'
        f'--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}'
    )
    assert (tmp_path / 'html' / 'index.html').is_file()
    # The maths renders with no network: MathJax is in the build, and no page asks a CDN for it.
    page = (tmp_path / 'html' / 'topics' / 'diffusion.html').read_text()
    assert 'src="../_static/mathjax/tex-chtml.js"' in page
    assert (tmp_path / 'html' / '_static' / 'mathjax' / 'tex-chtml.js').stat().st_size > 100_000
    assert not [
        path for path in (tmp_path / 'html').rglob('*.html') if 'cdn.jsdelivr.net/npm/mathjax' in path.read_text()
    ]


def test_the_exit_code_reference_lists_every_process_of_the_plugin():
    """`reference/exit_codes.md` is generated from the entry points: every `superionic.` process, with its codes."""
    from importlib.metadata import entry_points

    sys.path.insert(0, str(DOCS_SOURCE / '_ext'))
    try:
        from exit_codes import exit_code_rows, plugin_processes
    finally:
        sys.path.pop(0)
    listed = dict(plugin_processes())
    registered = {
        entry_point.name
        for group in ('aiida.calculations', 'aiida.workflows')
        for entry_point in entry_points(group=group)
        if entry_point.name.startswith('superionic.')
    }
    assert set(listed) == registered
    assert ('410', 'ERROR_MECHANICALLY_UNSTABLE') in {row[:2] for row in exit_code_rows(listed['superionic.elastic'])}
    assert ('310', 'ERROR_MECHANICALLY_UNSTABLE') in {
        row[:2] for row in exit_code_rows(listed['superionic.compute_elastic_descriptors'])
    }
    assert ('323', 'ERROR_MODEL_MISMATCH') in {row[:2] for row in exit_code_rows(listed['superionic.ase.md_segment'])}
    assert 'unknown protocol' not in str(exit_code_rows(listed['superionic.sse']))  # build-time errors are not codes
