"""Checks of what a user passes to a ``get_builder_from_protocol`` (and the port validators of the temperatures).

A mistake here must stop the build with one line naming the argument and the fix: by the time a workchain runs,
a NaN temperature or a missing code has already cost a queue slot, and a wrong number with exit 0 costs more.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

from aiida import orm

#: Temperatures an MD of a solid electrolyte can mean (K): above this no crystal is left to describe, and a value
#: this high is a typo (7000 for 700) or degrees Celsius confused with something else.
MAX_TEMPERATURE_K = 5000.0

#: Two temperatures closer than this (K) are one temperature: their MD runs would share a link label and a row.
DUPLICATE_TEMPERATURE_K = 1e-6


def temperature_problem(value, name: str = 'temperature') -> str | None:
    """Return why ``value`` is not a temperature an MD can run at (one line, naming ``name``), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f'`{name}` must be a number of kelvin, got {value!r}'
    if not math.isfinite(value):
        return f'`{name}` must be a finite number of kelvin, got {value}'
    if value <= 0:
        return f'`{name}` must be > 0, got {value:g} K'
    if value > MAX_TEMPERATURE_K:
        return f'`{name}` = {value:g} K is outside the plausible range 0 < T <= {MAX_TEMPERATURE_K:g} K (a typo?)'
    return None


def temperatures_problem(values, name: str = 'temperatures') -> str | None:
    """Return why ``values`` is not a list of distinct MD temperatures (one line, naming ``name``), or None."""
    if not isinstance(values, list | tuple) or not values:
        return f'`{name}` must be a non-empty list of positive numbers (K), got {values!r}'
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            return f'`{name}` must be a non-empty list of positive numbers (K), got {list(values)}'
        problem = temperature_problem(value, name)
        if problem:
            return f'{problem} (in {list(values)})'
    ordered = sorted(values)
    for lower, upper in itertools.pairwise(ordered):
        # The MD runs and rows are labelled by f'{T:g}': two temperatures with one label are one run.
        if upper - lower <= DUPLICATE_TEMPERATURE_K or f'{lower:g}' == f'{upper:g}':
            return (
                f'`{name}` repeats a temperature: {lower!r} and {upper!r} K are one MD run ({upper:g} K); '
                f'give each temperature once (got {list(values)})'
            )
    return None


def validate_temperature_port(node: orm.Float, _) -> str | None:
    """Port validator of one MD temperature."""
    return temperature_problem(node.value)


def validate_temperatures_port(node: orm.List, _) -> str | None:
    """Port validator of the list of MD temperatures."""
    return temperatures_problem(node.get_list())


def temperature_list(value) -> list[float]:
    """The ``temperatures`` override as a list of floats: a single number is taken as one temperature.

    :raises ValueError: naming ``temperatures`` when ``value`` is neither a number nor a list of numbers.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, orm.List):
        value = value.get_list()
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | dict):
        raise ValueError(f'`temperatures` must be a number or a list of numbers (K), got {value!r}')
    values = list(value)
    problem = temperatures_problem(values)
    if problem:
        raise ValueError(problem)
    return [float(item) for item in values]


#: The engine options ``get_builder_from_protocol`` takes as keyword arguments (``EngineInputs.from_code``).
ENGINE_OPTIONS = (
    'model',
    'potential',
    'device',
    'code_gamma',
    'potential_family',
    'potential_mapping',
    'dispersion',
    'hubbard_u',
    'spin_polarized',
)


def checked_builder_arguments(structure, overrides, code, options=None, engine_options=None) -> orm.StructureData:
    """Refuse, in one line each, the arguments of a ``get_builder_from_protocol`` a user most often gets wrong;
    return the structure (an ``ase.Atoms`` converted to ``StructureData``, since that is what was meant).

    :param engine_options: the keyword arguments meant for the engine, checked against :data:`ENGINE_OPTIONS`.
    :raises ValueError: for ``overrides`` or ``options`` that is not a dict, a ``structure`` that is not a
        structure, no ``code``, an unknown keyword argument (``engine``, the former way to name the engine, too).
    """
    unknown = sorted(set(engine_options or {}) - set(ENGINE_OPTIONS))
    if 'engine' in unknown:
        raise ValueError(
            "`engine` is no longer an argument: the engine is the code's (a `superionic.ase` code runs the ASE "
            'engine, a VASP code VASP); drop engine=...'
        )
    if unknown:
        raise ValueError(f'unknown argument(s) {unknown}: the engine options are {list(ENGINE_OPTIONS)}')
    if options is not None and not isinstance(options, dict):
        raise ValueError(
            f'`options` must be a dict of the calculations\' metadata.options, e.g. {{"account": "my-project"}}; '
            f'got {type(options).__name__} {options!r}'
        )
    if overrides is not None and not isinstance(overrides, dict):
        raise ValueError(
            f'`overrides` must be a dict of protocol keys, e.g. {{"md": {{"steps": 1000}}}}; '
            f'got {type(overrides).__name__} {overrides!r}'
        )
    if code is None:
        raise ValueError(
            '`code` is missing: pass the code to run with, e.g. code=orm.load_code("python@localhost") '
            '(`verdi code list` lists them; `aiida-superionic setup` makes the ASE one)'
        )
    if not isinstance(code, orm.AbstractCode):
        raise ValueError(
            f'`code` must be an AiiDA code (orm.load_code(...)), got {type(code).__name__} {code!r}; '
            '`verdi code list` lists them'
        )
    from ase import Atoms

    if isinstance(structure, Atoms):
        return orm.StructureData(ase=structure)
    if not isinstance(structure, orm.StructureData):
        raise ValueError(
            f'`structure` must be a StructureData, e.g. orm.StructureData(ase=atoms) or '
            f'orm.StructureData(pymatgen=structure); got {type(structure).__name__}'
        )
    return structure
