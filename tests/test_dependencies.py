"""The tested set (``requirements/constraints.txt``) against the compatible ranges of ``pyproject.toml``.

``make install`` installs the pins; other environments resolve within the ranges. A pin outside its range, or a
direct dependency with no pin, would make the tested set something ``pip install aiida-superionic`` never gives
(or leave CI's version of it to the day's resolver). Reads two files: no network, no install.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomllib is new in 3.11, tomli is its backport
    tomllib = pytest.importorskip('tomli')

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / 'requirements' / 'constraints.txt'
PROJECT = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']


def read_pins(text: str) -> dict[str, Version]:
    """The ``name==version`` lines of a constraints file, by canonical name (comments and blank lines skipped)."""
    pins = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        # Only exact pins make the set reproducible: a range here would leave the choice to the day's resolver.
        if len(specifiers) != 1 or specifiers[0].operator != '==' or '*' in specifiers[0].version:
            raise ValueError(f'line {number} is not an exact pin: {raw!r}')
        name = canonicalize_name(requirement.name)
        if name in pins:
            raise ValueError(f'line {number} pins {name} a second time')
        pins[name] = Version(specifiers[0].version)
    return pins


def direct_requirements(project: dict) -> list[tuple[str, Requirement]]:
    """Every requirement of ``[project]``: the dependencies, then each extra's, with where it is declared."""
    declared = [('dependencies', Requirement(line)) for line in project['dependencies']]
    for extra, lines in project.get('optional-dependencies', {}).items():
        declared += [(f'extra {extra!r}', Requirement(line)) for line in lines]
    return declared


def range_violations(pins: dict[str, Version], declared: list[tuple[str, Requirement]]) -> list[str]:
    """What is wrong between the pins and the ranges: a pin outside a range, or a direct dependency with no pin."""
    problems = []
    for where, requirement in declared:
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f'{requirement} ({where}) has no pin in {CONSTRAINTS.name}')
        # prereleases=True: a pinned prerelease is judged by its number, not refused for being one.
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f'{name}=={pins[name]} is outside {requirement} ({where})')
    return problems


@pytest.fixture(scope='module')
def pins() -> dict[str, Version]:
    return read_pins(CONSTRAINTS.read_text())


def test_every_pin_within_the_ranges_and_every_direct_dependency_pinned(pins):
    problems = range_violations(pins, direct_requirements(PROJECT))
    assert not problems, '\n'.join(problems)


def test_torch_pin_is_the_ml_extra_pin(pins):
    """The Makefile installs this torch as the CPU wheel before the extra: a different pin would pull a CUDA build."""
    (torch,) = [r for r in map(Requirement, PROJECT['optional-dependencies']['ml']) if r.name == 'torch']
    (specifier,) = torch.specifier
    assert specifier.operator == '=='
    assert pins['torch'] == Version(specifier.version)


def test_project_itself_is_not_pinned(pins):
    """The project is installed editable from the checkout; a pin of it would fight that install."""
    assert canonicalize_name(PROJECT['name']) not in pins


def test_the_checks_fail_on_a_bad_set():
    """The checks above can fail: a pin outside its range, a missing pin and a non-exact line are each reported."""
    declared = [('dependencies', Requirement('numpy>=2.0,<3')), ('dependencies', Requirement('click>=8.1,<9'))]
    problems = range_violations(read_pins('numpy==1.26.4\n'), declared)
    assert problems == [
        'numpy==1.26.4 is outside numpy<3,>=2.0 (dependencies)',
        f'click<9,>=8.1 (dependencies) has no pin in {CONSTRAINTS.name}',
    ]
    with pytest.raises(ValueError, match='not an exact pin'):
        read_pins('numpy>=2\n')
