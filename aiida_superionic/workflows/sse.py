"""``SseWorkChain``: one material through the whole protocol of the paper, on either engine, into table rows.

relax (cell and ions) → elastic, Γ phonons, vacancy, and on VASP Born charges, ε∞ and the band gap, in parallel
→ MD at every temperature for the stoichiometric supercell and for one with mobile-ion vacancies → one
descriptor row (``merge_descriptors``: the 54 keys and the identifiers) per (temperature, composition) → the
Arrhenius law per composition.

This module holds the workchain, its ports and its outline steps. Its roles (the children, the compositions, the
MD runs' labels) and the checks of its inputs are in ``sse_roles``, its builders in ``sse_builder``, and what a
restart reuses and the group bookkeeping in ``sse_restart``.
"""

from __future__ import annotations

import pathlib

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_, while_

from ..calculations.functions.compute_structural_descriptors import compute_structural_descriptors
from ..calculations.functions.fit_arrhenius import fit_arrhenius
from ..calculations.functions.generate_md_cells import generate_md_cells
from ..calculations.functions.merge_descriptors import merge_descriptors
from ..common.structure_checks import is_disordered_node, validate_structure_or_disordered
from ..descriptors.diffusion import select_mobile_species
from .builder_checks import validate_temperatures_port
from .engines import TaskEngineMixin, describe_process, diagonal_supercell_validator
from .md import MdWorkChain
from .md_checks import validate_non_negative, validate_positive
from .order import OrderWorkChain
from .protocols.utils import PROTOCOL_FOLDER
from .sse_builder import SseBuilderMixin
from .sse_restart import REUSED_RESULTS, file_in_group, stored_segments
from .sse_roles import (
    COMPOSITIONS,
    MD_FLAGGED_STATUSES,
    ZERO_TEMPERATURE,
    ZERO_TEMPERATURE_OUTPUTS,
    expose_children_inputs,
    md_label,
    run_identifiers,
    validate_fraction,
    validate_inputs,
)
from .task import task_parameters


class SseWorkChain(SseBuilderMixin, TaskEngineMixin, WorkChain):
    """Everything the paper computed for one material: the zero-temperature descriptors, MD at several
    temperatures for the stoichiometric cell and one with mobile-ion vacancies, a table row per (temperature,
    composition) and the Arrhenius law per composition. ``engine`` picks ASE or VASP for every calculation.

    A zero-temperature child that fails is reported and its descriptors are absent from the rows (None); an MD
    run that fails (not one whose D is only flagged) gives no row; the others go on, and the workchain then ends
    with the exit code of the first failed role. A failed relaxation, MD cells that cannot be made (408) or
    structural descriptors that cannot be computed (407) stop it.
    """

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the path of the protocol file, ``protocols/sse.yaml``."""
        return PROTOCOL_FOLDER / 'sse.yaml'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            validator=validate_structure_or_disordered,
            help='The material (any cell of it); relaxed first. A disordered one (partial occupancies, mixed sites, '
            'from a CIF) is ordered first by `superionic.order` with the `order` inputs.',
        )
        spec.input(
            'mobile_species',
            valid_type=orm.Str,
            required=False,
            help='The mobile ion; by default the first of Li, Na, Ag, Cu, F, Cl, Br, I, O present.',
        )
        spec.input(
            'temperatures',
            valid_type=orm.List,
            validator=validate_temperatures_port,
            help='The MD temperatures (K), each for both compositions.',
        )
        spec.input(
            'vacancy_fraction',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.02),
            validator=validate_fraction,
            help='Fraction of the mobile ions removed from the MD supercell of the vacancy composition (at least one).',
        )
        spec.input(
            'md_supercell_matrix',
            valid_type=orm.List,
            validator=diagonal_supercell_validator('md_supercell_matrix'),
            help='Repetitions of the relaxed cell for the MD supercells.',
        )
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(1), help='Seed of the vacancy sites of the MD.')
        spec.input(
            'max_concurrent_md',
            valid_type=orm.Int,
            default=lambda: orm.Int(0),
            validator=validate_non_negative('max_concurrent_md'),
            help='How many MD runs at once (0: all). On one workstation, the number of cores over the threads of '
            'each run: more only makes every run slower (torch threads contend). A cluster queue needs no limit.',
        )
        spec.input(
            'relax_max_force',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.01),
            validator=validate_positive('relax_max_force'),
            help='Force threshold (eV/Å) of the relaxation of cell and ions.',
        )
        spec.input(
            'protocol',
            valid_type=orm.Str,
            default=lambda: orm.Str('custom'),
            help='The protocol name recorded in every row (set by `get_builder_from_protocol`).',
        )
        spec.input(
            'protocol_overrides',
            valid_type=orm.Dict,
            required=False,
            help='The overrides the protocol was built with (set by `get_builder_from_protocol`), stored in every '
            'row beside the protocol label `<protocol>+overrides`.',
        )
        spec.input(
            'group_label',
            valid_type=orm.Str,
            required=False,
            help='A group (created if absent) that receives this workchain and its rows, so a query finds them.',
        )
        spec.input(
            'clean_workdir',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Clean the remote folders of every calculation when the workchain ends (the results are in the '
            'database; an MD can still be continued from its stored segments).',
        )
        for name in ZERO_TEMPERATURE:
            spec.input(
                f'run_{name}',
                valid_type=orm.Bool,
                default=lambda name=name: orm.Bool(name != 'dielectric'),
                help=f'Run the {name} workchain (its descriptors are None in the rows otherwise).',
            )
        spec.input_namespace(
            'restart_from',
            dynamic=True,
            valid_type=orm.Data,
            required=False,
            help='Results of an earlier run reused instead of computed (from `get_builder_restart`): '
            '`relaxed_structure`, `elastic_descriptors`, `gamma_frequencies`, `vacancy_descriptors`, '
            '`nac_parameters`, `band_gap`, `md_<label>` (the descriptors of a finished MD) and '
            '`md_segments_<label>_<segment>` (trajectory segments of an MD to continue).',
        )
        cls.define_engines(spec)
        spec.inputs['ase'].help = 'The ASE engine of the relaxation: `code`, `model`, `metadata`.'
        expose_children_inputs(spec)  # the namespaces `order`, `elastic`, `phonons`, `vacancy`, `dielectric`, `md`
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            if_(cls.should_order)(cls.run_order, cls.inspect_order),
            if_(cls.should_relax)(cls.run_relax, cls.inspect_relax),
            cls.run_zero_temperature_and_md,
            while_(cls.md_pending)(cls.run_md_batch),
            cls.inspect_zero_temperature,
            cls.inspect_md,
            cls.make_rows,
            cls.fit_arrhenius,
            cls.finalize,
        )
        spec.output('relaxed_structure', valid_type=orm.StructureData, help='The relaxed cell (cell and ions).')
        spec.output(
            'ordering',
            valid_type=orm.Dict,
            required=False,
            help='A disordered input: the supercell, composition before and after, candidates, energies and seed.',
        )
        spec.output_namespace(
            'md_cells',
            valid_type=orm.Data,
            dynamic=True,
            help='The MD supercells (`stoichiometric`, `vacancy`) and which sites were removed (`vacancies`).',
        )
        spec.output_namespace(
            'zero_temperature',
            valid_type=orm.Data,
            dynamic=True,
            help='Results of the zero-temperature children: `elastic_descriptors`, `elastic_tensor`, '
            '`gamma_frequencies`, `phonon_descriptors`, `vacancy_descriptors`, `nac_parameters`, `band_gap`.',
        )
        spec.output_namespace(
            'structural',
            valid_type=orm.Dict,
            dynamic=True,
            help='The structural–compositional descriptors per composition (`stoichiometric`, `vacancy`).',
        )
        spec.output_namespace(
            'md',
            valid_type=orm.Dict,
            dynamic=True,
            help='The trajectory descriptors of every MD (`<composition>_<T>K`).',
        )
        spec.output_namespace(
            'rows',
            valid_type=orm.Dict,
            dynamic=True,
            help='One table row per (composition, temperature), `<composition>_<T>K`: the 54 descriptors and the '
            'identifiers.',
        )
        spec.output_namespace(
            'arrhenius',
            valid_type=orm.Dict,
            dynamic=True,
            help='The Arrhenius law per composition (needs two diffusive temperatures).',
        )
        spec.exit_code(401, 'ERROR_RELAX_FAILED', message='The relaxation failed; nothing else was run: {message}')
        spec.exit_code(402, 'ERROR_ELASTIC_FAILED', message='The elastic workchain failed (rows without it): {message}')
        spec.exit_code(403, 'ERROR_PHONONS_FAILED', message='The phonon workchain failed (rows without it): {message}')
        spec.exit_code(404, 'ERROR_VACANCY_FAILED', message='The vacancy workchain failed (rows without it): {message}')
        spec.exit_code(
            405, 'ERROR_DIELECTRIC_FAILED', message='The dielectric workchain failed (rows without it): {message}'
        )
        spec.exit_code(406, 'ERROR_MD_FAILED', message='MD runs failed; their rows are missing: {message}')
        spec.exit_code(407, 'ERROR_STRUCTURAL_FAILED', message='The structural descriptors failed: {message}')
        spec.exit_code(408, 'ERROR_MD_CELLS_FAILED', message='The MD supercells could not be made: {message}')
        spec.exit_code(
            409,
            'ERROR_ORDER_FAILED',
            message='The disordered structure could not be ordered; nothing else was run: {message}',
        )

    # ------------------------------------------------------------------------------------------------ steps

    def setup(self):
        self.ctx.structure = self.inputs.structure  # the ordered structure replaces a disordered one
        symbols = sorted(self.inputs.structure.get_symbols_set())
        self.ctx.species = (
            self.inputs.mobile_species.value if 'mobile_species' in self.inputs else select_mobile_species(symbols)
        )
        self.ctx.reuse = dict(self.inputs.get('restart_from', {}))
        self.ctx.failures = {}  # role → message
        self.ctx.reused = []
        self.ctx.rows = {}

    def should_order(self) -> bool:
        return is_disordered_node(self.inputs.structure) and 'relaxed_structure' not in self.ctx.reuse

    def run_order(self):
        inputs = AttributeDict(self.exposed_inputs(OrderWorkChain, namespace='order'))
        inputs.structure = self.inputs.structure
        inputs.engine = self.inputs.engine
        inputs.mobile_species = orm.Str(self.ctx.species)
        inputs.metadata = {**inputs.get('metadata', {}), 'call_link_label': 'order'}
        node = self.submit(OrderWorkChain, **inputs)
        self.report(f'the structure is disordered: launched OrderWorkChain<{node.pk}>')
        return ToContext(order=node)

    def inspect_order(self):
        node = self.ctx.order
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_ORDER_FAILED.format(message=describe_process(node))
        self.ctx.structure = node.outputs.structure
        self.out('ordering', node.outputs.ordering)
        record = node.outputs.ordering.get_dict()
        self.report(
            f'ordered in a {"×".join(map(str, record["supercell"]))} supercell of {record["atoms"]} atoms; '
            f'composition change {record["composition_change"]}; mobile species {record["mobile_species"]}'
        )
        return None

    def should_relax(self) -> bool:
        if 'relaxed_structure' in self.ctx.reuse:
            self.ctx.relaxed = self.ctx.reuse['relaxed_structure']
            self.ctx.reused.append('relax')
            self.report('relaxation reused from `restart_from`')
            return False
        return True

    def run_relax(self):
        parameters = task_parameters(
            'relax', relax_cell=True, fmax_eV_A=self.inputs.relax_max_force.value, max_steps=1000
        )
        return ToContext(relax=self.submit_task(self.ctx.structure, parameters, 'relax'))

    def inspect_relax(self):
        node = self.ctx.relax
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_RELAX_FAILED.format(message=describe_process(node))
        self.ctx.relaxed = node.outputs.structure
        return None

    def run_zero_temperature_and_md(self):
        """The MD cells first (a refused cell stops the run before anything is submitted), then the zero-temperature
        children and the first MD runs at once (the MD needs only the relaxed cell)."""
        relaxed = self.ctx.relaxed
        self.out('relaxed_structure', relaxed)
        settings = {
            'supercell_matrix': self.inputs.md_supercell_matrix.get_list(),
            'mobile_species': self.ctx.species,
            'vacancy_fraction': self.inputs.vacancy_fraction.value,
            'seed': self.inputs.seed.value,
        }
        result, node = generate_md_cells.run_get_node(
            relaxed, orm.Dict(settings), metadata={'call_link_label': 'md_cells'}
        )
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_MD_CELLS_FAILED.format(message=node.exit_message)
        self.ctx.md_cells = result
        self.out('md_cells', result)
        vacancies = result['vacancies'].get_dict()
        self.report(
            f'MD cells: {len(result["stoichiometric"].sites)} atoms, and {vacancies["vacancies"]} {self.ctx.species} '
            f'vacancies ({vacancies["vacancy_fraction"]:.1%}) drawn with seed {vacancies["seed"]}'
        )
        futures = {}
        for name, (workchain, _) in ZERO_TEMPERATURE.items():
            if not self.inputs[f'run_{name}'].value or self._reused_zero_temperature(name):
                continue
            inputs = AttributeDict(self.exposed_inputs(workchain, namespace=name))
            inputs.structure = relaxed
            inputs.engine = self.inputs.engine
            if name in ('vacancy', 'dielectric'):
                inputs.mobile_species = orm.Str(self.ctx.species)
            inputs.metadata = {**inputs.get('metadata', {}), 'call_link_label': name}
            futures[name] = self.submit(workchain, **inputs)
            self.report(f'launched {workchain.__name__}<{futures[name].pk}>')

        self.ctx.md_queue = []
        for composition in COMPOSITIONS:
            for temperature in self.inputs.temperatures.get_list():
                label = md_label(composition, temperature)
                if f'md_{label}' in self.ctx.reuse:
                    self.ctx.reused.append(f'md_{label}')
                else:
                    self.ctx.md_queue.append((composition, temperature))
        futures.update(self._submit_md_batch())
        self.report(
            f'launched {len(futures)} child workchains; {len(self.ctx.md_queue)} MD runs wait for a free slot'
            + (f'; reused {self.ctx.reused}' if self.ctx.reused else '')
        )
        return ToContext(**futures)

    def _submit_md_batch(self) -> dict:
        """Submit the next MD runs of the queue, as many as ``max_concurrent_md`` allows (all when 0)."""
        limit = self.inputs.max_concurrent_md.value or len(self.ctx.md_queue)
        batch, self.ctx.md_queue = self.ctx.md_queue[:limit], self.ctx.md_queue[limit:]
        futures = {}
        for composition, temperature in batch:
            label = md_label(composition, temperature)
            inputs = AttributeDict(self.exposed_inputs(MdWorkChain, namespace='md'))
            inputs.structure = self.ctx.md_cells[composition]
            inputs.temperature = orm.Float(temperature)
            inputs.engine = self.inputs.engine
            inputs.mobile_species = orm.Str(self.ctx.species)
            segments = stored_segments(self.ctx.reuse, label)
            if segments:
                inputs.restart_from = segments
                self.report(f'MD {label} continues from {len(segments)} stored segments')
            inputs.metadata = {**inputs.get('metadata', {}), 'call_link_label': f'md_{label}'}
            futures[f'md_{label}'] = self.submit(MdWorkChain, **inputs)
            self.report(f'launched MdWorkChain<{futures[f"md_{label}"].pk}> {label}')
        return futures

    def md_pending(self) -> bool:
        return bool(self.ctx.md_queue)

    def run_md_batch(self):
        return ToContext(**self._submit_md_batch())

    def _reused_zero_temperature(self, name: str) -> bool:
        if all(key in self.ctx.reuse for key in REUSED_RESULTS[name]):
            self.ctx.reused.append(name)
            self.report(f'{name} reused from `restart_from`')
            return True
        return False

    def inspect_zero_temperature(self):
        """Collect what the zero-temperature children gave; a failed one is recorded, the rows go on without it."""
        results = {
            key: node
            for key, node in self.ctx.reuse.items()
            if not key.startswith('md_') and key != 'relaxed_structure'
        }
        collected = ZERO_TEMPERATURE_OUTPUTS
        for name in ZERO_TEMPERATURE:
            node = self.ctx.get(name)
            if node is None:
                continue
            if not node.is_finished_ok:
                self.ctx.failures[name] = describe_process(node)
                self.report(f'{name} failed, its descriptors will be None: {describe_process(node)}')
            for output, key in collected[name]:
                if output in node.outputs:  # an unstable elastic tensor is output even on failure: keep it
                    results[key] = node.outputs[output]
        self.ctx.zero_temperature = results
        self.out('zero_temperature', results)

    def inspect_md(self):
        self.ctx.md = {}
        self.ctx.failed_md = []
        for composition in COMPOSITIONS:
            for temperature in self.inputs.temperatures.get_list():
                label = md_label(composition, temperature)
                if f'md_{label}' in self.ctx.reuse:
                    self.ctx.md[label] = self.ctx.reuse[f'md_{label}']
                    continue
                node = self.ctx[f'md_{label}']
                if 'descriptors' in node.outputs:
                    self.ctx.md[label] = node.outputs.descriptors
                if node.is_finished_ok or node.exit_status in MD_FLAGGED_STATUSES:
                    if node.exit_status:
                        self.report(f'MD {label}: D flagged ({node.exit_message})')
                    continue
                # Failed (incomplete, drifting, melted, ...): its descriptors stay an output, not a row.
                self.ctx.failed_md.append(label)
                self.ctx.failures.setdefault('md', []).append(f'{label}: {describe_process(node)}')
                self.report(f'MD {label} failed, no row: {describe_process(node)}')
        self.out('md', dict(self.ctx.md))

    def make_rows(self):
        """Structural descriptors per composition, then one row per MD with the identifiers."""
        zero = self.ctx.zero_temperature
        optional = {
            'dielectric': zero.get('nac_parameters'),
            'band_gap': zero.get('band_gap'),
            'gamma_frequencies': zero.get('gamma_frequencies'),
            'vacancy_descriptors': zero.get('vacancy_descriptors'),
        }
        structural = {}
        for composition, stoichiometric in COMPOSITIONS.items():
            result, node = compute_structural_descriptors.run_get_node(
                structure=self.ctx.relaxed,
                mobile_species=orm.Str(self.ctx.species),
                stoichiometric=orm.Bool(stoichiometric),
                **{key: value for key, value in optional.items() if value is not None},
                metadata={'call_link_label': f'structural_{composition}'},
            )
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_STRUCTURAL_FAILED.format(message=node.exit_message)
            structural[composition] = result
        self.out('structural', structural)
        elastic = zero.get('elastic_descriptors')
        identifiers = run_identifiers(self.ctx.relaxed, self.ctx.species, self.inputs)
        for label, descriptors in self.ctx.md.items():
            if label in self.ctx.failed_md:
                continue
            composition = label.split('_')[0]
            row_identifiers = {
                **identifiers,
                'temperature_K': float(descriptors['temperature_K']),
                'stoichiometric': COMPOSITIONS[composition],
            }
            sources = {'trajectory': descriptors, 'structural': structural[composition]}
            if 'ordering' in self.outputs:  # the row records that its structure was ordered, and how
                sources['ordering'] = self.outputs['ordering']
            if elastic is not None:
                sources['elastic'] = elastic
            row, node = merge_descriptors.run_get_node(
                identifiers=orm.Dict(row_identifiers), **sources, metadata={'call_link_label': f'row_{label}'}
            )
            if not node.is_finished_ok:
                self.ctx.failures.setdefault('md', []).append(f'{label}: row refused: {node.exit_message}')
                continue
            self.ctx.rows[label] = row
        self.out('rows', dict(self.ctx.rows))
        self.report(f'{len(self.ctx.rows)} rows')
        return None

    def fit_arrhenius(self):
        arrhenius = {}
        for composition in COMPOSITIONS:
            runs = {
                label: node
                for label, node in self.ctx.md.items()
                if label.startswith(f'{composition}_') and label not in self.ctx.failed_md
            }
            diffusive = [label for label, node in runs.items() if node.get('diffusivity_verdict') == 'diffusive']
            if len(diffusive) < 2:
                # Not attempted (no failed calculation for a result that is only not diffusive enough): says why.
                flagged = sorted(set(runs) - set(diffusive))
                self.report(
                    f'{composition}: no Arrhenius fit: {len(diffusive)} diffusive temperatures, 2 needed '
                    f'(flagged: {", ".join(flagged) or "none"})'
                )
                continue
            result, node = fit_arrhenius.run_get_node(
                **{f'T_{label.split("_", 1)[1]}': value for label, value in runs.items()},
                metadata={'call_link_label': f'arrhenius_{composition}'},
            )
            if node.is_finished_ok:
                arrhenius[composition] = result
                values = result.get_dict()
                self.report(
                    f'{composition}: Ea = {values.get("activation_energy_eV", float("nan")):.3f} eV from '
                    f'{len(values.get("runs_used", []))} temperatures'
                )
            else:
                self.report(f'{composition}: no Arrhenius law: {node.exit_message}')
        self.out('arrhenius', arrhenius)

    def finalize(self):
        summary = {
            'rows': sorted(self.ctx.rows),
            'reused': sorted(self.ctx.reused),
            'failures': dict(self.ctx.failures.items()),
            'mobile_species': self.ctx.species,
            'arrhenius': sorted(self.outputs.get('arrhenius', {})),
        }
        # Bookkeeping of the run, not a result: an extra of the node, shown by `verdi node extras`.
        self.node.base.extras.set('superionic_summary', summary)
        self.report(f'summary: {summary}')
        if 'group_label' in self.inputs:
            file_in_group(self, self.inputs.group_label.value, list(self.ctx.rows.values()))
        for role, exit_code in (
            ('elastic', self.exit_codes.ERROR_ELASTIC_FAILED),
            ('phonons', self.exit_codes.ERROR_PHONONS_FAILED),
            ('vacancy', self.exit_codes.ERROR_VACANCY_FAILED),
            ('dielectric', self.exit_codes.ERROR_DIELECTRIC_FAILED),
            ('md', self.exit_codes.ERROR_MD_FAILED),
        ):
            if role in self.ctx.failures:
                message = self.ctx.failures[role]
                return exit_code.format(message='; '.join(message) if isinstance(message, list) else message)
        return None

    def on_terminated(self):
        """Clean the remote folders of every calculation when ``clean_workdir`` is true."""
        super().on_terminated()
        if not self.inputs.clean_workdir.value:
            return
        cleaned = []
        for node in self.node.called_descendants:
            if isinstance(node, orm.CalcJobNode):
                try:
                    node.outputs.remote_folder._clean()
                    cleaned.append(node.pk)
                except (OSError, KeyError, AttributeError):
                    pass
        if cleaned:
            self.report(f'cleaned the remote folders of {len(cleaned)} calculations')
