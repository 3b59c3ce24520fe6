"""No module of the package is longer than ``MAX_LINES``: a newcomer reads one module as one idea."""

from __future__ import annotations

import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'aiida_superionic'

MAX_LINES = 600

#: Modules allowed past ``MAX_LINES`` for now, relative to the package. Each is to be split along its sections,
#: and its entry removed here when it is: the list may only shrink.
OVERSIZED_FOR_NOW = {
    'workflows/md.py',  # the MD workchain: being reworked on another branch, split afterwards
}


def line_count(path: pathlib.Path) -> int:
    return len(path.read_text(encoding='utf-8').splitlines())


def test_no_module_is_longer_than_the_limit():
    modules = {path.relative_to(PACKAGE).as_posix(): line_count(path) for path in PACKAGE.rglob('*.py')}
    oversized = {name: lines for name, lines in modules.items() if lines > MAX_LINES}
    unexpected = {name: lines for name, lines in oversized.items() if name not in OVERSIZED_FOR_NOW}
    assert not unexpected, f'modules over {MAX_LINES} lines (split them along their sections): {unexpected}'


def test_the_allow_list_names_only_modules_still_too_long():
    """An allow-listed module that was split (or removed) must leave the list, so that it cannot grow back."""
    stale = sorted(
        name for name in OVERSIZED_FOR_NOW if not (PACKAGE / name).is_file() or line_count(PACKAGE / name) <= MAX_LINES
    )
    assert not stale, f'remove from OVERSIZED_FOR_NOW, they are no longer over {MAX_LINES} lines: {stale}'
