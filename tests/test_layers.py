"""The layering: the numerics (``descriptors/``), the readers (``readers/``) and the structure operations
(``structures/``, ordering disordered crystals) never import AiiDA."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'aiida_superionic'


@pytest.mark.parametrize('layer', ['descriptors', 'readers', 'structures'])
def test_pure_layers_do_not_import_aiida(layer):
    modules = sorted(f'aiida_superionic.{layer}.{path.stem}' for path in (PACKAGE / layer).glob('*.py'))
    assert len(modules) > 2
    # A fresh interpreter: the test session itself has AiiDA loaded. The package's __init__ must not load it either.
    code = (
        'import importlib, sys\n'
        f'for name in {modules!r}:\n'
        '    importlib.import_module(name)\n'
        "loaded = sorted(name for name in sys.modules if name == 'aiida' or name.startswith('aiida.'))\n"
        'print(loaded[:5])\n'
        'sys.exit(1 if loaded else 0)\n'
    )
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f'{layer}/ imports AiiDA: {result.stdout} {result.stderr[-2000:]}'
