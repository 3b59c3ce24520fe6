"""``OrderWorkChain``: a disordered crystal ordered in a supercell, its candidates ranked by the engine of the MD."""

from __future__ import annotations

import pathlib

from aiida import orm
from aiida.engine import ToContext, WorkChain

from ..calculations.functions.choose_ordered_candidate import choose_ordered_candidate
from ..calculations.functions.generate_ordered_candidates import generate_ordered_candidates
from ..common.structure_checks import validate_structure_or_disordered
from ..structures.ordering import order_structure
from .engines import TaskEngineMixin, check_engine_inputs, describe_process
from .md_checks import validate_positive
from .protocols.builders import ZeroTemperatureProtocolMixin
from .protocols.utils import PROTOCOL_FOLDER
from .task import task_parameters


def validate_inputs(inputs, _) -> str | None:
    message = check_engine_inputs(inputs, ('relax',))
    if message:
        return message
    structure = inputs.get('structure')
    named = inputs['mobile_species'].value if 'mobile_species' in inputs else None
    if structure is not None and named is not None and named not in structure.get_symbols_set():
        return f'the mobile species {named} is not in {structure.get_formula()}'
    return None


def planned_ordered_structure(
    structure: orm.StructureData, builder, mobile_species: str | None = None
) -> orm.StructureData:
    """An ordered stand-in (unstored) of the supercell that ``builder`` (of ``OrderWorkChain``) will make from
    ``structure``: its first electrostatic candidate, without the engine. For the protocol builders of a parent,
    whose supercells and settings follow the ordered cell; and a refusal before anything is stored.

    :raises ValueError: the ordering's refusal (``OrderingError``): the sites, the budget needed, a missing mobile ion.
    """
    result = order_structure(
        structure.get_pymatgen_structure(),
        max_atoms=builder.max_atoms.value,
        occupancy_tolerance=builder.occupancy_tolerance.value,
        candidates=1,
        seed=builder.seed.value,
        mobile_species=mobile_species,
    )
    return orm.StructureData(pymatgen=result.candidates[0])


class OrderWorkChain(TaskEngineMixin, ZeroTemperatureProtocolMixin, WorkChain):
    """A disordered structure (partial occupancies, mixed sites) made into an ordered supercell, on either engine.

    The smallest diagonal supercell within ``max_atoms`` where every occupancy is a whole number of atoms (each
    within ``occupancy_tolerance``, charge neutral when oxidation states are known) is found; ``candidates``
    configurations are drawn in it, by electrostatic (Ewald) ranking where oxidation states are known, else at
    random with ``seed``; each is relaxed briefly at fixed cell with the engine and potential of the MD, and the
    lowest energy is chosen. Every candidate, its energy, the seed and the composition before and after are
    recorded in ``ordering``. An ordered structure passes through as one candidate.
    """

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the path of the protocol file, ``protocols/order.yaml``."""
        return PROTOCOL_FOLDER / 'order.yaml'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            validator=validate_structure_or_disordered,
            help='The crystal as given (a CIF with partial occupancies, or an ordered one).',
        )
        spec.input(
            'mobile_species',
            valid_type=orm.Str,
            required=False,
            help='The mobile ion, when named: refused if the ordered structure has none.',
        )
        spec.input(
            'max_atoms',
            valid_type=orm.Int,
            default=lambda: orm.Int(500),
            validator=validate_positive('max_atoms'),
            help='The atom budget of the ordered supercell.',
        )
        spec.input(
            'occupancy_tolerance',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.02),
            validator=validate_positive('occupancy_tolerance'),
            help='The largest change of any site occupancy (absolute) allowed when rounding to whole atoms.',
        )
        spec.input(
            'candidates',
            valid_type=orm.Int,
            default=lambda: orm.Int(5),
            validator=validate_positive('candidates'),
            help='How many configurations are drawn and ranked by the engine.',
        )
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(1), help='Seed of the random draw.')
        spec.input(
            'relax_max_force',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.05),
            help='Force threshold (eV/Å) of the short relaxation of each candidate (fixed cell).',
        )
        spec.input(
            'relax_max_steps',
            valid_type=orm.Int,
            default=lambda: orm.Int(100),
            help='Steps of the short relaxation of each candidate per job.',
        )
        cls.define_engines(spec)
        spec.inputs.validator = validate_inputs
        spec.outline(cls.generate, cls.run_relaxations, cls.run_energies, cls.choose)
        spec.output(
            'structure',
            valid_type=orm.StructureData,
            help='The ordered structure: the candidate of lowest energy after its short relaxation.',
        )
        spec.output(
            'ordering',
            valid_type=orm.Dict,
            help='The supercell, occupancies and composition before and after (per element), the oxidation states, '
            'how the candidates were drawn (method, seed, Ewald energies), their energies and the one chosen.',
        )
        spec.output_namespace(
            'candidates', valid_type=orm.StructureData, dynamic=True, help='Every ordered candidate, unrelaxed.'
        )
        spec.exit_code(410, 'ERROR_CANNOT_ORDER', message='The structure cannot be ordered as asked: {message}')
        spec.exit_code(411, 'ERROR_ALL_CANDIDATES_FAILED', message='No candidate could be relaxed: {message}')

    @classmethod
    def _apply_protocol(cls, builder, inputs: dict) -> None:
        builder.max_atoms = orm.Int(inputs['max_atoms'])
        builder.occupancy_tolerance = orm.Float(inputs['occupancy_tolerance'])
        builder.candidates = orm.Int(inputs['candidates'])
        builder.seed = orm.Int(inputs['seed'])
        builder.relax_max_force = orm.Float(inputs['relax_max_force'])
        builder.relax_max_steps = orm.Int(inputs['relax_max_steps'])

    def generate(self):
        settings = {
            'max_atoms': self.inputs.max_atoms.value,
            'occupancy_tolerance': self.inputs.occupancy_tolerance.value,
            'candidates': self.inputs.candidates.value,
            'seed': self.inputs.seed.value,
        }
        if 'mobile_species' in self.inputs:
            settings['mobile_species'] = self.inputs.mobile_species.value
        result, node = generate_ordered_candidates.run_get_node(
            self.inputs.structure, orm.Dict(settings), metadata={'call_link_label': 'candidates'}
        )
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_CANNOT_ORDER.format(message=node.exit_message)
        self.ctx.ordering = result['ordering']
        self.ctx.candidates = {key: value for key, value in result.items() if key.startswith('candidate_')}
        self.out('candidates', self.ctx.candidates)
        record = self.ctx.ordering.get_dict()
        self.report(
            f'{len(self.ctx.candidates)} candidates of {record["atoms"]} atoms in a '
            f'{"×".join(map(str, record["supercell"]))} supercell ({record["method"]}, seed {record["seed"]})'
        )
        return None

    def run_relaxations(self):
        """A short relaxation of each candidate at fixed cell: one job of at most ``relax_max_steps`` steps, the
        same for every candidate, converged or not (the ranking needs the relaxed order, not a converged one)."""
        parameters = task_parameters(
            'relax',
            relax_cell=False,
            fmax_eV_A=self.inputs.relax_max_force.value,
            max_steps=self.inputs.relax_max_steps.value,
        )
        futures = {
            f'relax_{label}': self.submit_task(structure, parameters, f'relax_{label}', max_iterations=1)
            for label, structure in self.ctx.candidates.items()
        }
        return ToContext(**futures)

    def run_energies(self):
        """The energy of each relaxed candidate: the relaxation's own when it converged; a static task on the last
        structure of one stopped at its step limit (it gives that structure but no energy)."""
        futures, self.ctx.failures, self.ctx.converged = {}, [], []
        for label in self.ctx.candidates:
            node = self.ctx[f'relax_{label}']
            if node.is_finished_ok:
                self.ctx.converged.append(label)
            elif 'structure' in node.outputs:
                futures[label] = self.submit_task(node.outputs.structure, task_parameters('static'), label)
            else:
                self.ctx.failures.append(f'{label}: {describe_process(node)}')
                self.report(f'{label}: the relaxation gave no structure, it cannot be chosen: {describe_process(node)}')
        return ToContext(**futures)

    def choose(self):
        energies, structures, failures = {}, {}, list(self.ctx.failures)
        for label in self.ctx.candidates:
            node = self.ctx[f'relax_{label}'] if label in self.ctx.converged else self.ctx.get(label)
            if node is None:
                continue
            if node.is_finished_ok:
                energies[label], structures[label] = node.outputs.energy, node.outputs.structure
            else:
                failures.append(f'{label}: {describe_process(node)}')
                self.report(f'{label} failed and cannot be chosen: {describe_process(node)}')
        if not energies:
            return self.exit_codes.ERROR_ALL_CANDIDATES_FAILED.format(message='; '.join(failures))
        ordering = choose_ordered_candidate(self.ctx.ordering, **energies, metadata={'call_link_label': 'choose'})
        chosen = ordering['chosen']
        self.out('ordering', ordering)
        self.out('structure', structures[f'candidate_{chosen}'])
        self.report(
            f'candidate_{chosen} chosen: {ordering["energies_eV_per_atom"][chosen]:.5f} eV/atom; spread '
            f'{ordering["energy_spread_eV_per_atom"] * 1000:.2f} meV/atom over {len(energies)} candidates'
        )
        return None
