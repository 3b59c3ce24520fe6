"""The MD segment interface that every engine shares (``superionic.<engine>.md_segment``).

Inputs ``structure``, optional ``velocities`` (Å/ps) and ``parameters`` (below); outputs ``trajectory``
(times relative to the start state), ``final_structure`` and ``final_velocities`` (the state at the last
frame, from which the next segment continues). ``MdWorkChain`` sends every engine the same ``parameters``,
so they are defined and checked here once.
"""

from __future__ import annotations

from aiida import orm

from ..calculations.ase import TASK_PARAMETERS

#: The MD parameters of a segment and their defaults (None: required); units K, fs, steps. Those of
#: ``AseCalculation``'s md task but the chain length, which is particular to ASE's thermostat.
SEGMENT_PARAMETERS = {key: value for key, value in TASK_PARAMETERS['md'].items() if key != 'thermostat_chain_length'}

#: Parameters one engine uses and the others accept and ignore (VASP has a single Nosé thermostat).
ENGINE_PARAMETERS = ('thermostat_chain_length',)


def validate_segment_parameters(node: orm.Dict, _) -> str | None:
    """Check the MD parameters: known keys, positive numbers, ``steps`` a multiple of ``write_interval``."""
    parameters = node.get_dict()
    unknown = set(parameters) - set(SEGMENT_PARAMETERS) - set(ENGINE_PARAMETERS)
    if unknown:
        return f'unknown `parameters` {sorted(unknown)}; allowed: {sorted(SEGMENT_PARAMETERS)}'
    missing = [key for key, default in SEGMENT_PARAMETERS.items() if default is None and key not in parameters]
    if missing:
        return f'`parameters` lacks {missing}'
    values = {**SEGMENT_PARAMETERS, **parameters}
    for key in ('temperature_K', 'timestep_fs', 'thermostat_timescale_fs'):
        if not isinstance(values[key], int | float) or not values[key] > 0:
            return f'`parameters.{key}` must be a positive number, got {values[key]!r}'
    for key, least in (('steps', 1), ('write_interval', 1), ('equilibration_steps', 0)):
        if not isinstance(values[key], int) or isinstance(values[key], bool) or values[key] < least:
            return f'`parameters.{key}` must be an integer >= {least}, got {values[key]!r}'
    if values['steps'] % values['write_interval']:
        return (
            f'`parameters.steps` ({values["steps"]}) must be a multiple of `write_interval` '
            f'({values["write_interval"]}): the last step must be a recorded frame, the next segment starts from it'
        )
    return None


def whole_write_intervals(steps: int, write_interval: int) -> int:
    """Return ``steps`` rounded up to a whole number of write intervals, at least one (the last step is recorded)."""
    return max(write_interval, -(-steps // write_interval) * write_interval)
