"""What a zero-temperature workchain needs to run tasks on either engine: the ``engine`` input, the engines'
namespaces, and one method that launches a task there.

The elastic, phonon and vacancy workchains take ``engine`` (``ase`` or ``vasp``) and the namespace of that
engine (``ase``: code, model, options; ``vasp``: code, potentials, INCAR, k-points, options) once, and
run every calculation through the task interface of ``task.py`` with :meth:`TaskEngineMixin.submit_task`.
"""

from __future__ import annotations

from aiida import orm

from ..common.structure_checks import disordered_structure_problem, is_disordered_node, structure_problem
from ..descriptors.diffusion import select_mobile_species
from ..engines.ase.runner import uncovered_elements_message
from .ase_task import AseTaskWorkChain
from .task import ENGINE_TASKS, ENGINES, check_task_parameters


def task_workchain(engine: str):
    """The task workchain of ``engine``."""
    if engine == 'ase':
        return AseTaskWorkChain
    from .vasp_task import VaspTaskWorkChain

    return VaspTaskWorkChain


def validate_engine(node: orm.Str, _) -> str | None:
    if node.value not in ENGINES:
        return f'`engine` must be one of {list(ENGINES)}, got {node.value!r}'
    return None


def check_engine_inputs(inputs, needed_tasks: tuple[str, ...] = ()) -> str | None:
    """Return why the chosen engine cannot run, or None: its namespace is missing or it lacks a task."""
    engine = inputs['engine'].value if 'engine' in inputs else None
    if engine not in ENGINES:
        return None  # the port validator of ``engine`` says it
    if not inputs.get(engine):
        return (
            f'the `{engine}` engine is chosen but the `{engine}` inputs namespace is empty: give its code and settings'
        )
    for task in needed_tasks:
        if task not in ENGINE_TASKS[engine]:
            return check_task_parameters({'task': task}, engine)
    return model_coverage_problem(inputs)


def refuse_structure(structure: orm.StructureData, engine: str, model: orm.Dict | None = None) -> None:
    """Raise ``ValueError`` for a structure that no calculation should start from: not periodic, overlapping atoms,
    or (ASE engine) elements the model lacks; ``model`` None is the bundled CHGNet. For the protocol builders,
    which derive cells and settings from the structure before the process validates anything."""
    if is_disordered_node(structure):  # ordered first (``superionic.order``): only what ordering cannot fix
        problem = disordered_structure_problem(structure)
    else:
        problem = structure_problem(structure.get_ase())
    if problem is None and engine == 'ase':
        description = model.get_dict() if model is not None else {'name': 'chgnet'}
        problem = uncovered_elements_message(description, structure.get_symbols_set())
    if problem:
        raise ValueError(problem)


def model_coverage_problem(inputs) -> str | None:
    """Return which elements of ``structure`` the ASE engine's ``model`` cannot evaluate, or None."""
    engine = inputs['engine'].value if 'engine' in inputs else 'ase'
    model = (inputs.get('ase') or {}).get('model')
    if engine != 'ase' or model is None or 'structure' not in inputs:
        return None
    return uncovered_elements_message(model.get_dict(), inputs['structure'].get_symbols_set())


def diagonal_supercell_validator(port: str, what: str = ''):
    """A port validator of a diagonal supercell: three integers >= 1, the message naming ``port`` (and ``what``)."""

    def validator(node: orm.List, _) -> str | None:
        values = node.get_list()
        if len(values) != 3 or not all(isinstance(value, int) and value >= 1 for value in values):
            return f'`{port}` must be three integers >= 1{what}, got {values}'
        return None

    return validator


def describe_process(node) -> str:
    """``Label<pk> exit status N message``: how a child is named in reports and exit messages."""
    return f'{node.process_label}<{node.pk}> exit status {node.exit_status} {node.exit_message or ""}'.strip()


def mobile_species_of(inputs) -> tuple[str | None, str | None]:
    """Return ``(species, None)``: the ``mobile_species`` input, or the precedence rule's choice for the
    ``structure`` (``descriptors.diffusion.select_mobile_species``); or
    ``(None, why not)`` when the structure has none or not the one named. ``(None, None)`` without a structure."""
    structure = inputs.get('structure')
    if structure is None:
        return None, None
    symbols = sorted(structure.get_symbols_set())  # from the kinds: a disordered structure has no ASE atoms
    try:
        species = inputs['mobile_species'].value if 'mobile_species' in inputs else select_mobile_species(symbols)
    except ValueError as exception:
        return None, str(exception)
    if species not in symbols:
        return None, f'the mobile species {species} is not in {structure.get_formula()}'
    return species, None


class TaskEngineMixin:
    """Adds ``engine``, ``ase`` and ``vasp`` inputs to a workchain's spec, and ``submit_task``."""

    @classmethod
    def define_engines(cls, spec) -> None:
        spec.input(
            'engine',
            valid_type=orm.Str,
            default=lambda: orm.Str('ase'),
            validator=validate_engine,
            help='The engine of every calculation: `ase` (the bundled ML potential or another ASE calculator) '
            'or `vasp` (through aiida-vasp).',
        )
        spec.expose_inputs(
            AseTaskWorkChain,
            include=('ase',),
            namespace_options={'required': False, 'populate_defaults': False},
        )
        spec.inputs['ase'].required = False
        spec.inputs['ase'].populate_defaults = False
        spec.inputs['ase'].help = 'The ASE engine: `code` (a Python with ase and the calculator), `model`, `metadata`.'
        spec.expose_inputs(
            task_workchain('vasp'),
            include=('vasp',),
            namespace_options={'required': False, 'populate_defaults': False},
        )
        spec.inputs['vasp'].required = False
        spec.inputs['vasp'].populate_defaults = False

    @property
    def engine(self) -> str:
        return self.inputs.engine.value

    def submit_task(
        self,
        structure: orm.StructureData,
        parameters: dict,
        label: str,
        max_iterations: int | None = None,
        **engine_changes,
    ):
        """Submit one task of the chosen engine, linked as ``label``; return the future node.

        :param parameters: the task parameters (``task.task_parameters``).
        :param max_iterations: the jobs the task may run (restarts included); by default the task's own limit.
        :param engine_changes: entries replaced in the engine's namespace (e.g. ``charge`` on VASP); None removes one.
        """
        process_class = task_workchain(self.engine)
        inputs = self.exposed_inputs(process_class)
        merged = {**inputs[self.engine], **engine_changes}
        inputs[self.engine] = {key: value for key, value in merged.items() if value is not None}
        inputs['structure'] = structure
        inputs['parameters'] = orm.Dict(parameters)
        inputs['metadata'] = {'call_link_label': label}
        if max_iterations is not None:
            inputs['max_iterations'] = orm.Int(max_iterations)
        node = self.submit(process_class, **inputs)
        self.report(f'launched {parameters["task"]} `{label}` <{node.pk}> on {structure.get_formula()}')
        return node
