"""``MdWorkChain``: one NVT molecular dynamics at one temperature, then its diffusive–vibrational descriptors."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain

from ..calculations.ase import AseCalculation
from ..calculations.functions.compute_trajectory_descriptors import (
    DEFAULT_SETTINGS as ANALYSIS_SETTINGS,
)
from ..calculations.functions.compute_trajectory_descriptors import (
    compute_trajectory_descriptors,
)
from ..descriptors.diffusion import select_mobile_species
from .protocols.utils import ProtocolMixin

#: Engines behind the same inputs; VASP (aiida-vasp) joins this list with its own namespace.
ENGINES = ('ase',)


def _positive(name: str):
    def validator(node, _):
        if node.value <= 0:
            return f'`{name}` must be > 0, got {node.value}'
        return None

    return validator


def _non_negative(name: str):
    def validator(node, _):
        if node.value < 0:
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
        return f'the `{engine}` engine needs its namespace `{engine}` (code, model, metadata)'
    settings = inputs.get('analysis_settings')
    if settings is not None:
        unknown = set(settings.get_dict()) - set(ANALYSIS_SETTINGS)
        if unknown:
            return f'unknown `analysis_settings` keys {sorted(unknown)}; allowed: {sorted(ANALYSIS_SETTINGS)}'
    return None


def validate_engine(node: orm.Str, _):
    if node.value not in ENGINES:
        return f'`engine` must be one of {ENGINES}, got {node.value!r}'
    return None


class MdWorkChain(ProtocolMixin, WorkChain):
    """NVT MD (Nosé–Hoover chain) of a structure at one temperature, then its diffusive–vibrational descriptors.

    The MSD is averaged over all time origins, τmax is half the analysed run (the production run
    less ``analysis_settings.equilibration_ps``) and D = slope / 6
    of a linear fit over τmax/2 ≤ τ ≤ τmax (López et al., Mater. Horiz. 10, 1757, 2023).
    """

    _protocol_name = 'md'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, help='The simulation cell, used as it is.')
        spec.input(
            'temperature',
            valid_type=orm.Float,
            validator=_positive('temperature'),
            help='Thermostat temperature in K.',
        )
        spec.input('timestep', valid_type=orm.Float, validator=_positive('timestep'), help='MD time step in fs.')
        spec.input(
            'steps',
            valid_type=orm.Int,
            validator=_positive('steps'),
            help='Number of production steps, recorded and analysed.',
        )
        spec.input(
            'equilibration_steps',
            valid_type=orm.Int,
            default=lambda: orm.Int(0),
            validator=_non_negative('equilibration_steps'),
            help='Steps run before production with the same thermostat; not recorded, not analysed.',
        )
        spec.input(
            'write_interval',
            valid_type=orm.Int,
            default=lambda: orm.Int(1),
            validator=_positive('write_interval'),
            help='Record every n-th production step.',
        )
        spec.input(
            'seed',
            valid_type=orm.Int,
            default=lambda: orm.Int(0),
            help='Seed of the Maxwell–Boltzmann initial velocities (zero total momentum).',
        )
        spec.input(
            'thermostat_timescale',
            valid_type=orm.Float,
            default=lambda: orm.Float(100.0),
            validator=_positive('thermostat_timescale'),
            help='Characteristic time of the Nosé–Hoover chain thermostat in fs.',
        )
        spec.input(
            'mobile_species',
            valid_type=orm.Str,
            required=False,
            help='Element symbol of the mobile ion; by default the first of Li, Na, Ag, Cu, F, '
            'Cl, Br, I, O present in the structure.',
        )
        spec.input(
            'analysis_settings',
            valid_type=orm.Dict,
            required=False,
            help='Settings of `compute_trajectory_descriptors`: '
            + ', '.join(f'`{key}` (default {value})' for key, value in ANALYSIS_SETTINGS.items())
            + '.',
        )
        spec.input(
            'engine',
            valid_type=orm.Str,
            default=lambda: orm.Str('ase'),
            validator=validate_engine,
            help=f'The engine that runs the MD, one of {ENGINES}.',
        )
        spec.expose_inputs(
            AseCalculation,
            namespace='ase',
            exclude=('structure', 'parameters'),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'Inputs of the ASE engine: `code` (a Python with '
                'ase and the calculator), `model` (from `get_model_node`) '
                'and `metadata.options`.',
            },
        )
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            cls.run_md,
            cls.inspect_md,
            cls.compute_descriptors,
            cls.results,
        )

        spec.output(
            'descriptors',
            valid_type=orm.Dict,
            help='The diffusive–vibrational descriptors (DESIGN keys such as `diffusion_coefficient_cm2_s`, '
            '`msd_A2`, `mean_frequency_meV_mobile`, `lindemann_ratio`) and what stands beside them: the '
            'uncertainty and tensor of D, collective D, Haven ratio, conductivity, hops, the verdict.',
        )
        spec.output(
            'msd',
            valid_type=orm.ArrayData,
            help='MSD(τ) of the mobile species: total, per direction, tensor and collective.',
        )
        spec.output(
            'vdos',
            valid_type=orm.ArrayData,
            required=False,
            help='Vibrational densities of states (eq. 5 and mass-weighted) of all, framework and mobile atoms.',
        )
        spec.output('trajectory', valid_type=orm.TrajectoryData, help='The production trajectory.')
        spec.output('output_structure', valid_type=orm.StructureData, required=False, help='The last frame of the MD.')

        spec.exit_code(
            410,
            'ERROR_MD_FAILED',
            message='The MD calculation<{pk}> failed without a usable trajectory: {message}',
        )
        spec.exit_code(
            411,
            'ERROR_MD_INCOMPLETE',
            message='The MD calculation<{pk}> stopped early ({message}); the descriptors are '
            'computed from the frames it wrote.',
        )
        spec.exit_code(
            412,
            'ERROR_TOO_FEW_HOPS',
            message='D is flagged: {message}. Every output is kept; run longer or hotter for a trustworthy D.',
        )
        spec.exit_code(
            413,
            'ERROR_MSD_NOT_LINEAR',
            message='D is flagged: {message}. Every output is kept; the run is not yet diffusive.',
        )
        spec.exit_code(
            420,
            'ERROR_DESCRIPTORS_FAILED',
            message='The trajectory descriptors could not be computed: {message}',
        )

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData,
        temperature: float,
        protocol: str | None = None,
        overrides: dict | None = None,
        model: orm.Dict | None = None,
        options: dict | None = None,
    ):
        """Return a builder for an MD at ``temperature`` (K) with the ASE engine, from a protocol.

        :param code: the Python code that runs ``AseCalculation`` (``aiida-superionic setup`` makes one).
        :param structure: the simulation cell.
        :param temperature: thermostat temperature in K.
        :param protocol: ``fast``, ``balanced`` (default) or ``stringent``.
        :param overrides: inputs changed on top of the protocol (nested dict, same keys).
        :param model: the ``model`` node; CHGNet by default.
        :param options: ``metadata.options`` of the calculation, merged on the protocol's.
        :raises ValueError: for an unknown protocol or override key.
        """
        from ..engines.ase import get_model_node

        inputs = cls.get_protocol_inputs(protocol, overrides)
        if options:
            inputs['ase']['metadata']['options'].update(options)
        builder = cls.get_builder()
        builder.structure = structure
        builder.temperature = orm.Float(temperature)
        builder.timestep = orm.Float(inputs['timestep'])
        builder.steps = orm.Int(inputs['steps'])
        builder.equilibration_steps = orm.Int(inputs['equilibration_steps'])
        builder.write_interval = orm.Int(inputs['write_interval'])
        builder.seed = orm.Int(inputs['seed'])
        builder.thermostat_timescale = orm.Float(inputs['thermostat_timescale'])
        builder.analysis_settings = orm.Dict(inputs['analysis_settings'])
        builder.engine = orm.Str('ase')
        builder.ase.code = code
        builder.ase.model = model if model is not None else get_model_node('chgnet')
        builder.ase.metadata.options = inputs['ase']['metadata']['options']
        return builder

    def setup(self):
        """Fix the mobile species."""
        if 'mobile_species' in self.inputs:
            self.ctx.mobile_species = self.inputs.mobile_species.value
        else:
            self.ctx.mobile_species = select_mobile_species(self.inputs.structure.get_ase().get_chemical_symbols())
        self.report(f'mobile species {self.ctx.mobile_species} in {self.inputs.structure.get_formula()}')

    def run_md(self):
        """Launch the MD with the chosen engine."""
        inputs = self.exposed_inputs(AseCalculation, namespace='ase')
        inputs['structure'] = self.inputs.structure
        inputs['parameters'] = orm.Dict(
            {
                'task': 'md',
                'temperature_K': self.inputs.temperature.value,
                'timestep_fs': self.inputs.timestep.value,
                'steps': self.inputs.steps.value,
                'equilibration_steps': self.inputs.equilibration_steps.value,
                'write_interval': self.inputs.write_interval.value,
                'seed': self.inputs.seed.value,
                'thermostat_timescale_fs': self.inputs.thermostat_timescale.value,
            }
        )
        inputs['metadata']['call_link_label'] = 'md'
        node = self.submit(AseCalculation, **inputs)
        total = self.inputs.equilibration_steps.value + self.inputs.steps.value
        self.report(
            f'launching AseCalculation<{node.pk}>: {total} steps of {self.inputs.timestep.value} fs '
            f'at {self.inputs.temperature.value} K'
        )
        return ToContext(md=node)

    def inspect_md(self):
        """Keep the trajectory of a finished or stopped MD; fail only when there is nothing to analyse."""
        node = self.ctx.md
        self.ctx.incomplete = None
        if 'trajectory' not in node.outputs:
            self.report(f'AseCalculation<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}')
            return self.exit_codes.ERROR_MD_FAILED.format(pk=node.pk, message=node.exit_message or node.process_state)
        if not node.is_finished_ok:
            self.ctx.incomplete = node.exit_message or f'exit status {node.exit_status}'
            self.report(f'AseCalculation<{node.pk}> stopped early: {self.ctx.incomplete}; analysing what it wrote')
        self.out('trajectory', node.outputs.trajectory)
        if 'output_structure' in node.outputs:
            self.out('output_structure', node.outputs.output_structure)
        return None

    def compute_descriptors(self):
        """Compute every diffusive–vibrational descriptor of the trajectory with the calcfunction."""
        inputs = {
            'trajectory': self.ctx.md.outputs.trajectory,
            'mobile_species': orm.Str(self.ctx.mobile_species),
            'temperature': self.inputs.temperature,
            'metadata': {'call_link_label': 'compute_trajectory_descriptors'},
        }
        if 'analysis_settings' in self.inputs:
            inputs['settings'] = self.inputs.analysis_settings
        results, node = compute_trajectory_descriptors.run_get_node(**inputs)
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_DESCRIPTORS_FAILED.format(message=node.exit_message)
        self.ctx.analysis = results
        return None

    def results(self):
        """Attach the descriptors and report D."""
        for name, node in self.ctx.analysis.items():
            self.out(name, node)
        values = self.ctx.analysis['descriptors'].get_dict()
        self.report(
            f'D({self.ctx.mobile_species}) = {values["diffusion_coefficient_cm2_s"]:.3e} ± '
            f'{values.get("diffusion_coefficient_std_cm2_s", float("nan")):.1e} cm²/s at '
            f'{self.inputs.temperature.value} K (fit {values["diffusion_fit_start_ps"]:.2f}–'
            f'{values["diffusion_fit_end_ps"]:.2f} ps, {values["mobile_ion_hops"]} hops): '
            f'{values["diffusivity_verdict"]}'
        )
        if 'vibrational_analysis_error' in values:
            self.report(f'no vibrational descriptors: {values["vibrational_analysis_error"]}')
        if self.ctx.incomplete:
            return self.exit_codes.ERROR_MD_INCOMPLETE.format(pk=self.ctx.md.pk, message=self.ctx.incomplete)
        verdict_exit_codes = {
            'too_few_hops': self.exit_codes.ERROR_TOO_FEW_HOPS,
            'non_linear': self.exit_codes.ERROR_MSD_NOT_LINEAR,
        }
        if values['diffusivity_verdict'] in verdict_exit_codes:
            self.report(f'D is flagged: {values["diffusivity_reason"]}')
            return verdict_exit_codes[values['diffusivity_verdict']].format(message=values['diffusivity_reason'])
        return None
