"""No module of the package is longer than ``MAX_LINES``: a newcomer reads one module as one idea."""

from __future__ import annotations

import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'aiida_superionic'

MAX_LINES = 600


def line_count(path: pathlib.Path) -> int:
    return len(path.read_text(encoding='utf-8').splitlines())


def test_no_module_is_longer_than_the_limit():
    modules = {path.relative_to(PACKAGE).as_posix(): line_count(path) for path in PACKAGE.rglob('*.py')}
    oversized = {name: lines for name, lines in modules.items() if lines > MAX_LINES}
    assert not oversized, f'modules over {MAX_LINES} lines (split them along their sections): {oversized}'
