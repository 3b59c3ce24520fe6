"""The checks of ``MdWorkChain``'s inputs: a port's value in range, and, before anything runs, that the inputs
fit together (mobile species present, engine namespace given, step counts whole write intervals, restart
segments of the same cell, known analysis settings)."""

from __future__ import annotations

from ..calculations.functions.compute_trajectory_descriptors import (
    DEFAULT_SETTINGS as ANALYSIS_SETTINGS,
)
from ..descriptors.diffusion import select_mobile_species
from .engines import model_coverage_problem


def validate_positive(name: str):
    def validator(node, _):
        if not node.value > 0:  # NaN too
            return f'`{name}` must be > 0, got {node.value}'
        return None

    return validator


def validate_non_negative(name: str):
    def validator(node, _):
        if not node.value >= 0:  # NaN too
            return f'`{name}` must be >= 0, got {node.value}'
        return None

    return validator


def validate_inputs(inputs, _):
    """Check, before anything runs, that the mobile species is present and the engine has its inputs."""
    structure = inputs.get('structure')
    symbols = [site.kind_name for site in structure.sites] if structure else []
    elements = {structure.get_kind(name).symbol for name in set(symbols)} if structure else set()
    if 'mobile_species' in inputs:
        species = inputs['mobile_species'].value
        if species not in elements:
            return f'the structure ({structure.get_formula()}) has no atom of the mobile species {species}'
    elif structure is not None:
        try:
            select_mobile_species(sorted(elements))
        except ValueError as exception:
            return str(exception)
    engine = inputs['engine'].value if 'engine' in inputs else 'ase'
    if engine not in inputs or not inputs[engine]:
        needs = {'ase': 'code, model, metadata', 'vasp': 'code, potential_family, potential_mapping, options'}
        return f'the `{engine}` engine needs its namespace `{engine}` ({needs.get(engine, "")})'
    uncovered = model_coverage_problem(inputs)
    if uncovered:
        return uncovered
    steps = inputs['steps'].value if 'steps' in inputs else 0
    interval = inputs['write_interval'].value if 'write_interval' in inputs else 1
    for name in ('steps', 'segment_steps', 'max_steps'):
        if name in inputs and inputs[name].value % interval:
            return f'`{name}` ({inputs[name].value}) must be a multiple of `write_interval` ({interval})'
    if 'max_steps' in inputs and inputs['max_steps'].value < steps:
        return f'`max_steps` ({inputs["max_steps"].value}) is less than `steps` ({steps})'
    restart = inputs.get('restart_from') or {}
    if structure is not None and any(len(node.symbols) != len(structure.sites) for node in restart.values()):
        return '`restart_from` segments do not have the atoms of `structure`'
    settings = inputs.get('analysis_settings')
    if settings is not None:
        unknown = set(settings.get_dict()) - set(ANALYSIS_SETTINGS)
        if unknown:
            return f'unknown `analysis_settings` keys {sorted(unknown)}; allowed: {sorted(ANALYSIS_SETTINGS)}'
    return None
