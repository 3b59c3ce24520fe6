"""The layering: the numerics (``descriptors/``), the readers (``readers/``) and the structure operations
(``structures/``, ordering disordered crystals) never import AiiDA, and each layer imports only the layers below
it (the import-linter contracts of pyproject.toml)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'aiida_superionic'


def module_name(path: pathlib.Path) -> str:
    """The dotted name of a module of the package, subpackages included (``readers/vasp/__init__.py`` is
    ``aiida_superionic.readers.vasp``)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


@pytest.mark.parametrize('layer', ['descriptors', 'readers', 'structures'])
def test_pure_layers_do_not_import_aiida(layer):
    modules = sorted(module_name(path) for path in (PACKAGE / layer).rglob('*.py'))
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


def test_import_linter_contracts_hold():
    """``lint-imports`` keeps every contract of ``[tool.importlinter]`` (pyproject.toml): the layers, and no AiiDA
    in the numerics, the readers and the structure operations, indirect imports included."""
    lint_imports = pathlib.Path(sys.executable).parent / 'lint-imports'
    if not lint_imports.is_file():
        pytest.skip('import-linter is not installed next to this Python (install the `tests` extra)')
    result = subprocess.run(
        [str(lint_imports), '--no-cache'], cwd=PACKAGE.parent, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f'an import breaks the layering:\n{result.stdout[-4000:]}{result.stderr[-2000:]}'
