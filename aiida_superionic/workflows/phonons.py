"""``PhononsWorkChain``: Γ phonons by finite displacements (aiida-phonopy) on either engine, the lowest optical mode.

aiida-phonopy's ``PhonopyWorkChain`` makes the displaced supercells and gathers the forces into a
``PhonopyData``; this subclass computes the forces with the engines' task interface, adds Born charges and
ε∞ from DFPT when the engine has them (VASP), and computes the Γ modes with ``compute_gamma_phonons``.
"""

from __future__ import annotations

import pathlib

import numpy as np
from aiida import orm
from aiida.engine import ToContext, if_
from aiida_phonopy.data import PreProcessData
from aiida_phonopy.workflows.phonopy import PhonopyWorkChain

from ..calculations.functions.compute_gamma_phonons import compute_gamma_phonons
from ..common.structure_checks import validate_structure
from .engines import TaskEngineMixin, check_engine_inputs, describe_process
from .protocols.builders import ZeroTemperatureProtocolMixin
from .protocols.utils import PROTOCOL_FOLDER
from .task import ENGINE_TASKS, task_parameters

#: Label of the undisplaced supercell: its residual forces are subtracted from the others'.
PRISTINE_LABEL = 'supercell_0'


def validate_inputs(inputs, context) -> str | None:
    return check_engine_inputs(inputs, ('static',))


def guess_primitive_matrix(structure: orm.StructureData, symprec: float = 1.0e-5) -> list[list[float]]:
    """The transformation from ``structure`` to its primitive cell, phonopy's guess from the centring."""
    from phonopy.structure.atoms import PhonopyAtoms
    from phonopy.structure.cells import guess_primitive_matrix as guess

    atoms = structure.get_ase()
    cell = PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array, scaled_positions=atoms.get_scaled_positions()
    )
    return np.asarray(guess(cell, symprec=symprec), dtype=float).round(12).tolist()


def supercell_for_length(structure: orm.StructureData, min_length_A: float) -> list[int]:
    """The diagonal supercell whose lattice vectors are each at least ``min_length_A`` long (at least 1 × 1 × 1)."""
    lengths = np.linalg.norm(np.asarray(structure.cell, dtype=float), axis=1)
    return [max(1, int(np.ceil(min_length_A / length - 1.0e-9))) for length in lengths]


class PhononsWorkChain(TaskEngineMixin, ZeroTemperatureProtocolMixin, PhonopyWorkChain):
    """Γ phonons of a relaxed structure by finite displacements, the lowest optical mode without NAC.

    Every displaced supercell, and the undisplaced one (its residual forces are subtracted), is a static task
    of the chosen engine. On VASP a DFPT task on the primitive cell gives Born charges and ε∞, added to the
    ``PhonopyData`` as non-analytical correction (NAC) data for later band structures; the ASE engine has
    none, and ``phonopy_data`` then has no NAC (never invented). The descriptor itself is NAC-free, as the
    paper's.
    """

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the path of the protocol file, ``protocols/phonons.yaml``."""
        return PROTOCOL_FOLDER / 'phonons.yaml'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        cls.define_engines(spec)
        spec.inputs['structure'].validator = validate_structure
        spec.input(
            'dielectric',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(True),
            help='Run DFPT on the primitive cell for Born charges and ε∞ when the engine can (VASP) and '
            '`nac_parameters` are not given.',
        )
        spec.inputs.validator = _combined_validator(spec.inputs.validator)
        spec.outline(
            cls.setup,
            cls.run_supercells,
            cls.run_forces,
            cls.inspect_forces,
            cls.run_results,
            cls.run_gamma,
            if_(cls.should_run_phonopy)(
                cls.run_phonopy,
                cls.inspect_phonopy,
            ),
        )
        spec.output(
            'gamma_frequencies',
            valid_type=orm.ArrayData,
            help='Array `frequencies_THz`: every Γ mode of the primitive cell (THz, imaginary negative, no NAC).',
        )
        spec.output(
            'descriptors',
            valid_type=orm.Dict,
            help='`lowest_optical_frequency_meV`, `imaginary_optical_modes`, `gamma_modes` and the cell sizes.',
        )
        spec.output(
            'nac_parameters',
            valid_type=orm.ArrayData,
            required=False,
            help='Born charges and ε∞ of the primitive cell from DFPT (arrays `born_charges`, `dielectric`).',
        )
        spec.exit_code(
            402, 'ERROR_FORCES_FAILED', message='Force calculations of displaced supercells failed: {message}'
        )
        spec.exit_code(403, 'ERROR_DIELECTRIC_FAILED', message='The DFPT calculation failed: {message}')
        spec.exit_code(404, 'ERROR_GAMMA_FAILED', message='The Γ phonons could not be computed: {message}')

    @classmethod
    def _apply_protocol(cls, builder, inputs: dict) -> None:
        structure = builder.structure
        builder.supercell_matrix = orm.List(supercell_for_length(structure, inputs['supercell_min_length']))
        builder.primitive_matrix = orm.List(guess_primitive_matrix(structure, inputs['symmetry_tolerance']))
        builder.symmetry_tolerance = orm.Float(inputs['symmetry_tolerance'])
        builder.displacement_generator = orm.Dict({'distance': float(inputs['displacement'][builder.engine.value])})
        builder.dielectric = orm.Bool(inputs['dielectric'])

    def setup(self):
        """The displaced supercells, with the primitive matrix given or guessed (phonopy 4 would take 'auto')."""
        if 'preprocess_data' in self.inputs:
            return super().setup()
        primitive = self.inputs.get('primitive_matrix')
        if primitive is None:
            tolerance = self.inputs.symmetry_tolerance.value if 'symmetry_tolerance' in self.inputs else 1.0e-5
            primitive = orm.List(guess_primitive_matrix(self.inputs.structure, tolerance))
        arguments = {'structure': self.inputs.structure, 'primitive_matrix': primitive}
        for name, argument in (
            ('supercell_matrix', 'supercell_matrix'),
            ('symmetry_tolerance', 'symprec'),
            ('is_symmetry', 'is_symmetry'),
            ('displacement_generator', 'displacement_generator'),
        ):
            if name in self.inputs:
                arguments[argument] = self.inputs[name]
        self.ctx.preprocess_data = PreProcessData.generate_preprocess_data(**arguments)
        self.report(f'primitive matrix {primitive.get_list()}, supercell matrix {arguments.get("supercell_matrix")}')
        return None

    def _should_run_dielectric(self) -> bool:
        return (
            self.inputs.dielectric.value and 'dfpt' in ENGINE_TASKS[self.engine] and 'nac_parameters' not in self.inputs
        )

    def run_forces(self):
        """A static task per displaced supercell and for the undisplaced one; DFPT beside them when it applies."""
        static = task_parameters('static')
        futures = {label: self.submit_task(structure, static, label) for label, structure in self.ctx.supercells}
        pristine = self.ctx.preprocess_data.calcfunctions.get_supercell()
        futures[PRISTINE_LABEL] = self.submit_task(pristine, static, PRISTINE_LABEL)
        if self._should_run_dielectric():
            primitive = self.ctx.preprocess_data.calcfunctions.get_primitive_cell()
            futures['dielectric'] = self.submit_task(primitive, task_parameters('dfpt'), 'dielectric')
        self.report(f'{len(self.ctx.supercells)} displaced supercells')
        return ToContext(**futures)

    def inspect_forces(self):
        labels = [label for label, _ in self.ctx.supercells] + [PRISTINE_LABEL]
        failed = [
            f'{label}: {describe_process(self.ctx[label])}' for label in labels if not self.ctx[label].is_finished_ok
        ]
        if failed:
            return self.exit_codes.ERROR_FORCES_FAILED.format(message='; '.join(failed))
        if 'dielectric' in self.ctx:
            node = self.ctx.dielectric
            if not node.is_finished_ok or 'nac_parameters' not in node.outputs:
                return self.exit_codes.ERROR_DIELECTRIC_FAILED.format(message=describe_process(node))
            self.ctx.nac_parameters = node.outputs.nac_parameters
            self.out('nac_parameters', self.ctx.nac_parameters)
        for label in labels:
            number = label.split('_')[-1]
            self.out(f'supercells_forces.forces_{number}', self.ctx[label].outputs.forces)
            self.out(f'supercells_energies.energy_{number}', self.ctx[label].outputs.energy)
        return None

    def run_results(self):
        """Gather the forces (and NAC data) in a ``PhonopyData``."""
        forces = {**self.outputs['supercells_forces']}
        nac = self.inputs.get('nac_parameters') or self.ctx.get('nac_parameters')
        if nac is not None:
            forces['nac_parameters'] = nac
        self.ctx.phonopy_data = self.ctx.preprocess_data.calcfunctions.generate_phonopy_data(**forces)
        self.out('phonopy_data', self.ctx.phonopy_data)

    def run_gamma(self):
        result, node = compute_gamma_phonons.run_get_node(
            self.ctx.phonopy_data, metadata={'call_link_label': 'gamma_phonons'}
        )
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_GAMMA_FAILED.format(message=node.exit_message or f'exit {node.exit_status}')
        self.out('gamma_frequencies', result['gamma_frequencies'])
        self.out('descriptors', result['descriptors'])
        values = result['descriptors'].get_dict()
        self.report(
            f'lowest optical mode at Γ: {values["lowest_optical_frequency_meV"]:.2f} meV '
            f'({values["imaginary_optical_modes"]} imaginary optical modes)'
        )
        return None


def _combined_validator(parent):
    """aiida-phonopy's input validator, then the engine's."""

    def validator(inputs, context):
        return (parent(inputs, context) if parent else None) or validate_inputs(inputs, context)

    return validator
