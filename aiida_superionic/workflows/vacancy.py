"""``VacancyWorkChain``: the formation energy of a mobile-ion vacancy, its site and reference stated."""

from __future__ import annotations

import pathlib

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_

from ..calculations.functions.compute_vacancy_formation_energy import compute_vacancy_formation_energy
from ..calculations.functions.generate_elemental_reference import generate_elemental_reference
from ..calculations.functions.generate_vacancy_supercell import generate_vacancy_supercell
from ..common.structure_checks import validate_structure
from ..descriptors.composition import nominal_charge
from ..descriptors.diffusion import select_mobile_species
from ..descriptors.vacancy import elemental_reference
from .engines import (
    TaskEngineMixin,
    check_engine_inputs,
    describe_process,
    diagonal_supercell_validator,
    mobile_species_of,
)
from .phonons import supercell_for_length
from .protocols.builders import ZeroTemperatureProtocolMixin
from .protocols.utils import PROTOCOL_FOLDER
from .task import task_parameters


def validate_chemical_potential(node: orm.Dict, _) -> str | None:
    values = node.get_dict()
    if set(values) != {'value_eV', 'description'} or not isinstance(values['value_eV'], int | float):
        return '`chemical_potential` must be {"value_eV": <number>, "description": <where it comes from>}'
    return None


def validate_inputs(inputs, _) -> str | None:
    message = check_engine_inputs(inputs, ('relax',))
    if message:
        return message
    species, message = mobile_species_of(inputs)
    if species is None:
        return message
    if 'chemical_potential' not in inputs:
        try:
            elemental_reference(species)
        except ValueError as exception:
            return str(exception)
    if inputs.get('charged') and inputs['charged'].value and inputs['engine'].value != 'vasp':
        return 'a charged vacancy needs electrons (NELECT): use the `vasp` engine, or the neutral vacancy'
    return None


class VacancyWorkChain(TaskEngineMixin, ZeroTemperatureProtocolMixin, WorkChain):
    """The formation energy of a vacancy of the mobile ion in a supercell, on either engine.

    One site of the mobile species is drawn (``seed``) among its symmetry-distinct orbits and removed; the
    pristine and defective supercells are relaxed at fixed cell, and the elemental reference (the metal's
    crystal with its cell, or the halogen's or oxygen's molecule) gives the chemical potential unless one
    is given. E_f = E(defective) − E(pristine) + μ for the neutral vacancy; a charged vacancy (VASP:
    NELECT changed by q = −nominal charge) adds q·ε_VBM (Fermi level at the valence-band maximum).
    """

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the path of the protocol file, ``protocols/vacancy.yaml``."""
        return PROTOCOL_FOLDER / 'vacancy.yaml'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            validator=validate_structure,
            help='The relaxed stoichiometric structure.',
        )
        spec.input(
            'mobile_species',
            valid_type=orm.Str,
            required=False,
            help='The element whose vacancy is made; by default the first of Li, Na, Ag, Cu, F, Cl, Br, I, O present.',
        )
        spec.input(
            'supercell_matrix',
            valid_type=orm.List,
            default=lambda: orm.List([2, 2, 2]),
            validator=diagonal_supercell_validator('supercell_matrix', ' (a diagonal supercell)'),
            help='Repetitions of the structure along its three vectors.',
        )
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(1), help='Seed of the draw of the site orbit.')
        spec.input(
            'symmetry_tolerance',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.01),
            help='spglib tolerance (Å) that decides which sites are equivalent.',
        )
        spec.input(
            'charged',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Remove the ion rather than the atom (VASP only): a vacancy of charge q = −(nominal charge).',
        )
        spec.input(
            'chemical_potential',
            valid_type=orm.Dict,
            required=False,
            validator=validate_chemical_potential,
            help='μ of the mobile species, `{"value_eV": ..., "description": ...}`; by default the elemental '
            'reference computed with the same engine.',
        )
        spec.input('max_force', valid_type=orm.Float, default=lambda: orm.Float(0.01), help='Force threshold (eV/Å).')
        cls.define_engines(spec)
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.generate,
            cls.run_relaxations,
            cls.inspect_relaxations,
            if_(cls.is_charged)(cls.run_band_edge, cls.inspect_band_edge),
            cls.results,
        )
        spec.output('pristine', valid_type=orm.StructureData, help='The relaxed pristine supercell.')
        spec.output('defective', valid_type=orm.StructureData, help='The relaxed supercell with the vacancy.')
        spec.output('vacancy', valid_type=orm.Dict, help='The site drawn, the orbits it was drawn from, the seed.')
        spec.output(
            'descriptors',
            valid_type=orm.Dict,
            help='`vacancy_formation_energy_eV`, μ and its reference, the charge compensation, the energies.',
        )
        spec.exit_code(
            401, 'ERROR_PRISTINE_FAILED', message='The relaxation of the pristine supercell failed: {message}'
        )
        spec.exit_code(
            402, 'ERROR_DEFECTIVE_FAILED', message='The relaxation of the defective supercell failed: {message}'
        )
        spec.exit_code(403, 'ERROR_REFERENCE_FAILED', message='The elemental reference calculation failed: {message}')
        spec.exit_code(404, 'ERROR_BAND_EDGE_FAILED', message='The valence-band maximum could not be found: {message}')
        spec.exit_code(405, 'ERROR_SUPERCELL_FAILED', message='The vacancy supercell could not be made: {message}')
        spec.exit_code(406, 'ERROR_FORMATION_ENERGY_FAILED', message='The formation energy failed: {message}')

    @classmethod
    def _apply_protocol(cls, builder, inputs: dict) -> None:
        builder.supercell_matrix = orm.List(supercell_for_length(builder.structure, inputs['supercell_min_length']))
        builder.seed = orm.Int(inputs['seed'])
        builder.symmetry_tolerance = orm.Float(inputs['symmetry_tolerance'])
        builder.max_force = orm.Float(inputs['max_force'])

    def generate(self):
        symbols = self.inputs.structure.get_ase().get_chemical_symbols()
        species = (
            self.inputs.mobile_species.value if 'mobile_species' in self.inputs else select_mobile_species(symbols)
        )
        self.ctx.species = species
        settings = {
            'supercell_matrix': self.inputs.supercell_matrix.get_list(),
            'mobile_species': species,
            'seed': self.inputs.seed.value,
            'symprec': self.inputs.symmetry_tolerance.value,
        }
        result, node = generate_vacancy_supercell.run_get_node(
            self.inputs.structure, orm.Dict(settings), metadata={'call_link_label': 'generate_vacancy'}
        )
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_SUPERCELL_FAILED.format(message=node.exit_message)
        self.ctx.supercells = result
        self.out('vacancy', result['vacancy'])
        vacancy = result['vacancy'].get_dict()
        self.report(
            f'{species} vacancy at site {vacancy["site_index"]} (Wyckoff {vacancy["wyckoff"]}, orbit '
            f'{vacancy["orbit"] + 1} of {len(vacancy["orbits"])}, seed {vacancy["seed"]}) of a '
            f'{vacancy["pristine_atoms"]}-atom supercell'
        )
        self.ctx.charge = 0
        if self.inputs.charged.value:
            charge, source = nominal_charge(symbols, species)
            self.ctx.charge = -charge
            self.report(f'charged vacancy q = {-charge:+d} (nominal charge of {species} from {source})')
        return None

    def run_relaxations(self):
        relax = task_parameters('relax', relax_cell=False, fmax_eV_A=self.inputs.max_force.value)
        futures = {
            'pristine': self.submit_task(self.ctx.supercells['pristine'], relax, 'pristine'),
            'defective': self.submit_task(
                self.ctx.supercells['defective'],
                relax,
                'defective',
                **({'charge': orm.Int(self.ctx.charge)} if self.ctx.charge else {}),
            ),
        }
        if 'chemical_potential' not in self.inputs:
            reference = generate_elemental_reference(
                orm.Str(self.ctx.species), metadata={'call_link_label': 'elemental_reference'}
            )
            self.ctx.reference_description = reference['description']
            parameters = task_parameters(
                'relax', relax_cell=reference['relax_cell'].value, fmax_eV_A=self.inputs.max_force.value
            )
            futures['reference'] = self.submit_task(reference['structure'], parameters, 'reference')
        return ToContext(**futures)

    def inspect_relaxations(self):
        for label, exit_code in (
            ('pristine', self.exit_codes.ERROR_PRISTINE_FAILED),
            ('defective', self.exit_codes.ERROR_DEFECTIVE_FAILED),
            ('reference', self.exit_codes.ERROR_REFERENCE_FAILED),
        ):
            node = self.ctx.get(label)
            if node is not None and not node.is_finished_ok:
                return exit_code.format(message=describe_process(node))
        self.out('pristine', self.ctx.pristine.outputs.structure)
        self.out('defective', self.ctx.defective.outputs.structure)
        return None

    def is_charged(self) -> bool:
        return self.ctx.charge != 0

    def run_band_edge(self):
        """A static calculation of the relaxed pristine supercell for its valence-band maximum."""
        node = self.submit_task(self.ctx.pristine.outputs.structure, task_parameters('static'), 'band_edge')
        return ToContext(band_edge=node)

    def inspect_band_edge(self):
        node = self.ctx.band_edge
        reported = node.outputs.output_parameters.get_dict() if 'output_parameters' in node.outputs else {}
        if not node.is_finished_ok or reported.get('vbm_eV') is None:
            return self.exit_codes.ERROR_BAND_EDGE_FAILED.format(
                message=f'{node.process_label}<{node.pk}> exit status {node.exit_status}, '
                f'vbm_eV {reported.get("vbm_eV")}'
            )
        return None

    def results(self):
        inputs = {
            'pristine_energy': self.ctx.pristine.outputs.energy,
            'defective_energy': self.ctx.defective.outputs.energy,
            'vacancy': self.ctx.supercells['vacancy'],
        }
        if 'chemical_potential' in self.inputs:
            inputs['chemical_potential'] = self.inputs.chemical_potential
        else:
            inputs['reference_energy'] = self.ctx.reference.outputs.energy
            inputs['reference_structure'] = self.ctx.reference.outputs.structure
            inputs['reference_description'] = self.ctx.reference_description
        if self.ctx.charge:
            inputs['charge'] = orm.Int(self.ctx.charge)
            inputs['band_edge'] = self.ctx.band_edge.outputs.output_parameters
        result, node = compute_vacancy_formation_energy.run_get_node(
            **inputs, metadata={'call_link_label': 'formation_energy'}
        )
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_FORMATION_ENERGY_FAILED.format(message=node.exit_message)
        self.out('descriptors', result)
        values = result.get_dict()
        self.report(
            f'E_vac = {values["vacancy_formation_energy_eV"]:.3f} eV with μ({self.ctx.species}) = '
            f'{values["chemical_potential_eV"]:.4f} eV ({values["chemical_potential_reference"]})'
        )
        return None
