"""The zero-temperature task interface that every engine shares (``superionic.<engine>.task``).

A task is one ``static`` calculation (energy, forces, stress; on VASP also the band gap), one ``relax``
(ions, optionally the cell), one ``dfpt`` (Born effective charges and the ion-clamped dielectric tensor;
VASP only) or one ``elastic`` (VASP's own elastic tensor by finite differences, IBRION = 6 with ISIF = 3;
VASP only). The elastic, phonon and vacancy workchains run tasks through this interface only, so they
never see an engine's own output names, units or sign conventions:

- ``energy``: ``Float``, total energy of the final structure in eV (for ``elastic``, like ``forces`` and
  ``stress``, of the undistorted input, not of VASP's finite-difference configurations);
- ``forces``: ``ArrayData`` with ``forces`` (atoms × 3, eV/Å);
- ``stress``: ``ArrayData`` with ``stress`` (3 × 3, GPa, **positive in tension**: the physicist's sign,
  which is ASE's; VASP prints the opposite sign in kbar);
- ``structure``: the final ``StructureData`` (the input one for ``static``, ``dfpt`` and ``elastic``);
- ``nac_parameters``: ``ArrayData`` with ``born_charges`` (atoms × 3 × 3, e) and ``dielectric`` (3 × 3),
  the layout aiida-phonopy takes as non-analytical correction data (``dfpt`` only);
- ``band_gap``: ``Float`` in eV (VASP ``static`` only; absent from a force field, never faked);
- ``elastic_tensor``: ``ArrayData`` with ``elastic_tensor_GPa`` (6 × 6, Voigt order xx yy zz yz xz xy, GPa,
  relaxed ions: VASP's "TOTAL ELASTIC MODULI") and ``clamped_ion_elastic_tensor_GPa`` when the engine gives
  it (``elastic`` only);
- ``output_parameters``: a ``Dict`` with the engine, the task and what the run reported.
"""

from __future__ import annotations

from aiida import orm

from ..common.structure_checks import validate_structure

#: Keys allowed in ``parameters`` per task, with their defaults (forces in eV/Å).
TASK_PARAMETERS = {
    'static': {},
    'relax': {'relax_cell': False, 'fmax_eV_A': 0.01, 'max_steps': 500},
    'dfpt': {},
    # NFREE = 2: central differences, ±POTIM (VASP advises against NFREE = 1; 4 adds ±2 POTIM at twice the cost).
    # POTIM = 0.015: VASP's default step, Å for the ionic displacements and the strain of the lattice distortions.
    'elastic': {'nfree': 2, 'potim': 0.015},
}

#: The tasks an engine can run; a task outside its set is refused before anything is stored.
ENGINE_TASKS = {
    'ase': ('static', 'relax'),
    'vasp': ('static', 'relax', 'dfpt', 'elastic'),
}

#: Why an engine that lacks a task cannot run it, per task.
ENGINE_ONLY_REASONS = {
    'dfpt': 'Born charges and dielectric tensors need an electronic-structure code',
    'elastic': (
        "it is VASP's own finite-difference elastic tensor (IBRION = 6); the finite strains of ElasticWorkChain "
        '(`method` `strains`) give the elastic tensor on any engine'
    ),
}

#: The NFREE values of the task ``elastic``: 2 (±POTIM) or 4 (±POTIM, ±2 POTIM).
ELASTIC_NFREE = (2, 4)

#: The largest POTIM of the task ``elastic``: a 5 % strain is past the linear regime.
ELASTIC_MAX_POTIM = 0.05

#: The engines, by name, as the workchains' ``engine`` input takes them.
ENGINES = tuple(ENGINE_TASKS)


def task_parameters(task: str, **values) -> dict:
    """Return the ``parameters`` of a task with its defaults filled in (``ValueError`` for a wrong task or key)."""
    if task not in TASK_PARAMETERS:
        raise ValueError(f'unknown task {task!r}: choose one of {sorted(TASK_PARAMETERS)}')
    unknown = set(values) - set(TASK_PARAMETERS[task])
    if unknown:
        raise ValueError(
            f'unknown parameters of task {task!r}: {sorted(unknown)}; allowed: {sorted(TASK_PARAMETERS[task])}'
        )
    return {'task': task, **TASK_PARAMETERS[task], **values}


def check_task_parameters(parameters: dict, engine: str) -> str | None:
    """Return why ``parameters`` is not a task ``engine`` can run, or None."""
    task = parameters.get('task')
    if task not in TASK_PARAMETERS:
        return f'`parameters.task` must be one of {sorted(TASK_PARAMETERS)}, got {task!r}'
    if task not in ENGINE_TASKS[engine]:
        return (
            f'the {engine} engine cannot run the task {task!r} (it runs {", ".join(ENGINE_TASKS[engine])}): '
            f'{ENGINE_ONLY_REASONS.get(task, "it is not implemented there")}'
        )
    unknown = set(parameters) - set(TASK_PARAMETERS[task]) - {'task'}
    if unknown:
        return f'unknown `parameters` of task {task!r}: {sorted(unknown)}; allowed: {sorted(TASK_PARAMETERS[task])}'
    values = {**TASK_PARAMETERS[task], **parameters}
    if task == 'relax':
        if not isinstance(values['relax_cell'], bool):
            return f'`parameters.relax_cell` must be true or false, got {values["relax_cell"]!r}'
        if not isinstance(values['fmax_eV_A'], int | float) or not values['fmax_eV_A'] > 0:
            return f'`parameters.fmax_eV_A` must be a positive number, got {values["fmax_eV_A"]!r}'
        if not isinstance(values['max_steps'], int) or isinstance(values['max_steps'], bool) or values['max_steps'] < 1:
            return f'`parameters.max_steps` must be an integer >= 1, got {values["max_steps"]!r}'
    if task == 'elastic':
        nfree = values['nfree']
        if isinstance(nfree, bool) or not isinstance(nfree, int) or nfree not in ELASTIC_NFREE:
            return f'`parameters.nfree` must be one of {list(ELASTIC_NFREE)}, got {values["nfree"]!r}'
        potim = values['potim']
        if isinstance(potim, bool) or not isinstance(potim, int | float) or not 0 < potim <= ELASTIC_MAX_POTIM:
            return (
                f'`parameters.potim` must be a step in (0, {ELASTIC_MAX_POTIM}] (Å for the ions, the strain of the '
                f'cell), got {potim!r}'
            )
    return None


def define_task_interface(spec, engine: str) -> None:
    """Add the shared inputs, outputs and exit codes of a task workchain of ``engine`` to ``spec``."""

    def validate_parameters(node: orm.Dict, _) -> str | None:
        return check_task_parameters(node.get_dict(), engine)

    spec.input(
        'structure',
        valid_type=orm.StructureData,
        validator=validate_structure,
        help='The structure to compute.',
    )
    spec.input(
        'parameters',
        valid_type=orm.Dict,
        validator=validate_parameters,
        help='The task: `{"task": "static"}`, `{"task": "relax", "relax_cell": false, "fmax_eV_A": 0.01, '
        '"max_steps": 500}`, `{"task": "dfpt"}` or `{"task": "elastic", "nfree": 2, "potim": 0.015}` (VASP only).',
    )
    spec.output('energy', valid_type=orm.Float, help='Total energy of the final structure (eV).')
    spec.output('forces', valid_type=orm.ArrayData, help='Array `forces`: atoms × 3 (eV/Å) of the final structure.')
    spec.output(
        'stress',
        valid_type=orm.ArrayData,
        required=False,
        help='Array `stress`: 3 × 3 (GPa), positive in tension, of the final structure.',
    )
    spec.output('structure', valid_type=orm.StructureData, help='The final structure (the input one unless relaxed).')
    spec.output(
        'nac_parameters',
        valid_type=orm.ArrayData,
        required=False,
        help='`dfpt`: arrays `born_charges` (atoms × 3 × 3, e) and `dielectric` (3 × 3, ion-clamped ε∞).',
    )
    spec.output('band_gap', valid_type=orm.Float, required=False, help='`static` on VASP: the band gap (eV).')
    spec.output(
        'elastic_tensor',
        valid_type=orm.ArrayData,
        required=False,
        help='`elastic`: arrays `elastic_tensor_GPa` (6 × 6 Voigt C in GPa, order xx yy zz yz xz xy, relaxed ions) '
        'and `clamped_ion_elastic_tensor_GPa` (rigid ions) when the engine gives it.',
    )
    spec.output('output_parameters', valid_type=orm.Dict, help='The engine, the task and what the run reported.')
    spec.exit_code(
        320,
        'ERROR_ENGINE_FAILED',
        message='The {engine} calculation failed and could not be recovered: {message}',
    )
    spec.exit_code(
        330,
        'ERROR_RELAX_NOT_CONVERGED',
        message='The relaxation did not reach the force threshold; its last structure is an output: {message}',
    )
    spec.exit_code(340, 'ERROR_OUTPUT_MISSING', message='The calculation finished without {quantity}.')
