"""``MdWorkChain``: NVT MD at one temperature, in segments on the ASE or VASP engine, then its descriptors.

This module holds the workchain, its ports and its outline steps; the checks of its inputs are in ``md_checks``,
its builders (from a protocol, or to continue a run) in ``md_builder``.
"""

from __future__ import annotations

import math
import pathlib

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_, while_

from ..calculations.ase import AseCalculation
from ..calculations.functions.compute_trajectory_descriptors import (
    DEFAULT_SETTINGS as ANALYSIS_SETTINGS,
)
from ..calculations.functions.compute_trajectory_descriptors import (
    compute_trajectory_descriptors,
)
from ..calculations.functions.last_frame import last_frame
from ..calculations.functions.stitch_trajectories import stitch_trajectories
from ..common.structure_checks import validate_structure
from ..descriptors.diffusion import select_mobile_species
from ..descriptors.stability import energy_drift_meV_atom_ps
from .ase_segment import AseMdSegmentWorkChain
from .builder_checks import validate_temperature_port
from .md_builder import MdBuilderMixin
from .md_checks import validate_inputs, validate_non_negative, validate_positive
from .protocols.utils import PROTOCOL_FOLDER
from .segment import whole_write_intervals
from .vasp_segment import VaspMdSegmentWorkChain

#: Engines behind the same inputs, each with the segment workchain that runs it and the namespace of its inputs.
SEGMENT_WORKCHAINS = {'ase': AseMdSegmentWorkChain, 'vasp': VaspMdSegmentWorkChain}
ENGINES = tuple(SEGMENT_WORKCHAINS)

#: Guards' defaults. A Nosé–Hoover chain integrated well drifts by well under 1 meV/atom/ps. The
#: Lindemann ratio (neighbour distance from the framework alone) stays well below 0.5 in a crystal
#: (Li3N with CHGNet at 700 K: 0.27 measured with the former any-species distance, N–Li 1.94 Å; ≈ 0.14
#: with N–N 3.65 Å, scaled, not re-measured) and grows without bound in a melt.
DEFAULT_MAX_ENERGY_DRIFT_meV_atom_ps = 10.0
DEFAULT_MAX_LINDEMANN_RATIO = 0.5
#: Times a segment that excepted (did not fail: raised) is launched again before the run ends with 410/411.
MAX_EXCEPTED_SEGMENT_RETRIES = 1


def validate_engine(node: orm.Str, _):
    if node.value not in ENGINES:
        return f'`engine` must be one of {ENGINES}, got {node.value!r}'
    return None


class MdWorkChain(MdBuilderMixin, WorkChain):
    """NVT MD (Nosé–Hoover chain) at one temperature, in segments until D is known well enough; then its descriptors.

    Segments continue each other with positions and velocities (``AseMdSegmentWorkChain``, which
    itself continues a job stopped at the wall time from its last frame). After each segment the
    run so far is stitched into one trajectory (``stitch_trajectories``) and analysed
    (``compute_trajectory_descriptors``): the run stops when the 1σ of D relative to D reaches
    ``target_relative_uncertainty`` (after ``steps`` at least) or at ``max_steps``. Guards end it
    early with a named exit code: an energy drift beyond ``max_energy_drift``, a melted framework
    (Lindemann ratio beyond ``max_lindemann_ratio``); and a run without a single mobile-ion hop by
    ``max_steps`` ends with 417. Every output is kept whatever the exit code.

    The MSD is averaged over all time origins, τmax is half the analysed run (the production run
    less ``analysis_settings.equilibration_ps``) and D = slope / 6 of a linear fit over
    τmax/2 ≤ τ ≤ τmax (López et al., Mater. Horiz. 10, 1757, 2023).
    """

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the path of the protocol file, ``protocols/md.yaml``."""
        return PROTOCOL_FOLDER / 'md.yaml'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            validator=validate_structure,
            help='The simulation cell, used as it is.',
        )
        spec.input(
            'temperature',
            valid_type=orm.Float,
            validator=validate_temperature_port,
            help='Thermostat temperature in K.',
        )
        spec.input(
            'timestep', valid_type=orm.Float, validator=validate_positive('timestep'), help='MD time step in fs.'
        )
        spec.input(
            'steps',
            valid_type=orm.Int,
            validator=validate_positive('steps'),
            help='Production steps, recorded and analysed: the whole run without `target_relative_uncertainty`, '
            'the least the run makes with it.',
        )
        spec.input(
            'segment_steps',
            valid_type=orm.Int,
            required=False,
            validator=validate_positive('segment_steps'),
            help='Production steps of each segment (default `steps`: one segment unless D is not yet converged).',
        )
        spec.input(
            'max_steps',
            valid_type=orm.Int,
            required=False,
            validator=validate_positive('max_steps'),
            help='The most production steps the run makes while D is not converged (default `steps`).',
        )
        spec.input(
            'target_relative_uncertainty',
            valid_type=orm.Float,
            required=False,
            validator=validate_positive('target_relative_uncertainty'),
            help='Stop when the 1σ of D (block averaging) divided by D is at most this; absent: run `steps`.',
        )
        spec.input(
            'max_energy_drift',
            valid_type=orm.Float,
            default=lambda: orm.Float(DEFAULT_MAX_ENERGY_DRIFT_meV_atom_ps),
            validator=validate_positive('max_energy_drift'),
            help='Largest drift of the conserved energy in meV/atom/ps before the run is stopped (exit 415).',
        )
        spec.input(
            'max_lindemann_ratio',
            valid_type=orm.Float,
            default=lambda: orm.Float(DEFAULT_MAX_LINDEMANN_RATIO),
            validator=validate_positive('max_lindemann_ratio'),
            help='Largest Lindemann ratio of the framework before it counts as melted and the run stops (exit 416).',
        )
        spec.input_namespace(
            'restart_from',
            valid_type=orm.TrajectoryData,
            dynamic=True,
            required=False,
            help='Segments of an earlier run of the same inputs (its `segments` outputs, labels `segment_NN`), '
            'finished or killed: they are reused and the run continues from the last one. '
            'See `MdWorkChain.get_builder_restart`.',
        )
        spec.input(
            'equilibration_steps',
            valid_type=orm.Int,
            default=lambda: orm.Int(0),
            validator=validate_non_negative('equilibration_steps'),
            help='Steps run before production with the same thermostat; not recorded, not analysed.',
        )
        spec.input(
            'write_interval',
            valid_type=orm.Int,
            default=lambda: orm.Int(1),
            validator=validate_positive('write_interval'),
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
            validator=validate_positive('thermostat_timescale'),
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
        spec.expose_inputs(
            VaspMdSegmentWorkChain,
            include=('vasp',),
            namespace_options={'required': False, 'populate_defaults': False},
        )
        spec.inputs['vasp'].required = False
        spec.inputs['vasp'].populate_defaults = False
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            while_(cls.should_run_segment)(
                cls.run_segment,
                cls.inspect_segment,
                if_(cls.should_analyse)(cls.analyse),
            ),
            cls.results,
        )

        spec.output(
            'descriptors',
            valid_type=orm.Dict,
            help='The diffusive–vibrational descriptors (keys of `descriptors/keys.py` such as '
            '`diffusion_coefficient_cm2_s`, `msd_A2`, `mean_frequency_meV_mobile`, `lindemann_ratio`) and what '
            'stands beside them: the '
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
        spec.output('trajectory', valid_type=orm.TrajectoryData, help='The production trajectory, segments stitched.')
        spec.output_namespace(
            'segments',
            valid_type=orm.TrajectoryData,
            dynamic=True,
            help='The trajectory of each segment as it finished (`segment_NN`): what `restart_from` takes.',
        )
        spec.output('output_structure', valid_type=orm.StructureData, required=False, help='The last frame of the MD.')

        spec.exit_code(
            410,
            'ERROR_MD_FAILED',
            message='The MD segment<{pk}> failed and there is no earlier segment to analyse: {message}',
        )
        spec.exit_code(
            411,
            'ERROR_MD_INCOMPLETE',
            message='The MD segment<{pk}> failed ({message}); the descriptors are those of the segments before it.',
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
            414,
            'ERROR_NOT_CONVERGED',
            message='D is not converged at `max_steps`: {message}. Every output is kept; extend with `restart_from`.',
        )
        spec.exit_code(
            415,
            'ERROR_ENERGY_DRIFT',
            message='The conserved energy drifts by {drift:.3g} meV/atom/ps (limit {limit:g}): shorten the time step.',
        )
        spec.exit_code(
            416,
            'ERROR_FRAMEWORK_MELTED',
            message='The framework Lindemann ratio is {ratio:.3g} (limit {limit:g}): the framework melted.',
        )
        spec.exit_code(
            417,
            'ERROR_NO_HOPS',
            message='No mobile ion hopped in {time_ps:g} ps (the most the run may make): D is not defined.',
        )
        spec.exit_code(
            420,
            'ERROR_DESCRIPTORS_FAILED',
            message='The trajectory descriptors could not be computed: {message}',
        )

    def setup(self):
        """Fix the mobile species, the segment plan and what an earlier run gives."""
        if 'mobile_species' in self.inputs:
            self.ctx.mobile_species = self.inputs.mobile_species.value
        else:
            self.ctx.mobile_species = select_mobile_species(self.inputs.structure.get_ase().get_chemical_symbols())
        steps = self.inputs.steps.value
        self.ctx.min_steps = steps
        self.ctx.max_steps = self.inputs.max_steps.value if 'max_steps' in self.inputs else steps
        self.ctx.segment_steps = self.inputs.segment_steps.value if 'segment_steps' in self.inputs else steps
        self.ctx.segments = [self.inputs.restart_from[label] for label in sorted(self.inputs.get('restart_from', {}))]
        self.ctx.steps_done = 0
        self.ctx.done = False
        self.ctx.failure = None
        self.ctx.analysis = None
        self.report(f'mobile species {self.ctx.mobile_species} in {self.inputs.structure.get_formula()}')
        if self.ctx.segments:
            for index, segment in enumerate(self.ctx.segments):
                self.out(f'segments.segment_{index:02d}', segment)
            self.report(f'reusing {len(self.ctx.segments)} segment(s) of an earlier run')
            # Reused segments that already fail a guard (drift, melted framework) end the run here with
            # that exit code: running on would only add a segment and stop on the same guard.
            return self.analyse()
        return None

    def should_run_segment(self):
        return not self.ctx.done

    def should_analyse(self):
        """After a new segment; not when the last one excepted and is to be launched again."""
        return bool(self.ctx.segments) and not self.ctx.get('retry_segment')

    def _segment_parameters(self) -> dict:
        interval = self.inputs.write_interval.value
        remaining = self.ctx.max_steps - self.ctx.steps_done
        steps = min(self.ctx.segment_steps, remaining)
        first = not self.ctx.segments
        return {
            'temperature_K': self.inputs.temperature.value,
            'timestep_fs': self.inputs.timestep.value,
            'steps': whole_write_intervals(steps, interval),
            'write_interval': interval,
            'equilibration_steps': self.inputs.equilibration_steps.value if first else 0,
            'seed': self.inputs.seed.value + len(self.ctx.segments),
            'thermostat_timescale_fs': self.inputs.thermostat_timescale.value,
        }

    def run_segment(self):
        """Run the next segment: from the input structure, or from the last frame of the segment before."""
        parameters = self._segment_parameters()
        engine = self.inputs.engine.value
        inputs = {
            'parameters': orm.Dict(parameters),
            'metadata': {'call_link_label': f'segment_{len(self.ctx.segments):02d}'},
        }
        if engine == 'ase':
            inputs['ase'] = self.exposed_inputs(AseCalculation, namespace='ase')
        else:
            inputs.update(self.exposed_inputs(VaspMdSegmentWorkChain))
        if self.ctx.get('end_state'):  # the state the last segment ended in: its final structure and velocities
            inputs['structure'], inputs['velocities'] = self.ctx.end_state
        elif self.ctx.segments:  # segments of an earlier run: their last frame
            state = last_frame(
                self.ctx.segments[-1], metadata={'call_link_label': f'start_of_segment_{len(self.ctx.segments):02d}'}
            )
            inputs['structure'] = state['structure']
            if 'velocities' in state:
                inputs['velocities'] = state['velocities']
            else:
                self.report('the last reused segment has no velocities per frame: new ones are drawn to continue')
        else:
            inputs['structure'] = self.inputs.structure
        node = self.submit(SEGMENT_WORKCHAINS[engine], **inputs)
        self.report(
            f'launching segment {len(self.ctx.segments)} <{node.pk}>: {parameters["steps"]} steps of '
            f'{parameters["timestep_fs"]} fs at {parameters["temperature_K"]} K'
            + (
                f' after {parameters["equilibration_steps"]} equilibration steps'
                if parameters['equilibration_steps']
                else ''
            )
        )
        return ToContext(segment=node)

    def inspect_segment(self):
        """Keep a finished segment; launch an excepted one again, once; a failed one ends the run with what the
        earlier segments give."""
        node = self.ctx.segment
        retries = self.ctx.get('segment_retries', 0)
        self.ctx.retry_segment = node.is_excepted and retries < MAX_EXCEPTED_SEGMENT_RETRIES
        if self.ctx.retry_segment:
            # A segment excepts when its worker stopped in the middle of a step that talked to the broker (an
            # aiida-core race at `verdi daemon stop`): nothing of it finished, so it is launched again as it was.
            reason = (node.exception or '').strip().splitlines()[-1:] or ['no traceback']
            self.report(f'segment <{node.pk}> excepted ({reason[0]}): launching it again')
            self.ctx.segment_retries = retries + 1
            return None
        if not node.is_finished_ok:
            message = node.exit_message or f'exit status {node.exit_status} ({node.process_state.value})'
            self.report(f'segment <{node.pk}> failed: {message}')
            if not self.ctx.segments:
                return self.exit_codes.ERROR_MD_FAILED.format(pk=node.pk, message=message)
            self.ctx.failure = (node.pk, message)
            self.ctx.done = True
            return None
        label = f'segment_{len(self.ctx.segments):02d}'
        self.ctx.segment_retries = 0
        self.ctx.segments.append(node.outputs.trajectory)
        self.out(f'segments.{label}', node.outputs.trajectory)
        self.ctx.final_structure = node.outputs.final_structure
        self.ctx.end_state = (node.outputs.final_structure, node.outputs.final_velocities)
        return None

    def analyse(self):
        """Stitch the segments, compute the descriptors, check the guards and decide whether to go on."""
        if self.ctx.failure and self.ctx.analysis is not None:
            return None  # the last segment failed: the analysis of the ones before stands
        segments = self.ctx.segments
        if len(segments) == 1:
            trajectory = segments[0]
        else:
            labelled = {f'segment_{index:02d}': segment for index, segment in enumerate(segments)}
            trajectory = stitch_trajectories(**labelled, metadata={'call_link_label': f'stitch_{len(segments):02d}'})[
                'trajectory'
            ]
        self.ctx.trajectory = trajectory
        times = trajectory.get_times()
        # Times count from the start state of the run: the last one is the production time made.
        self.ctx.steps_done = round(times[-1] * 1000.0 / self.inputs.timestep.value)
        inputs = {
            'trajectory': trajectory,
            'mobile_species': orm.Str(self.ctx.mobile_species),
            'temperature': self.inputs.temperature,
            'metadata': {'call_link_label': f'descriptors_{len(segments):02d}'},
        }
        if 'analysis_settings' in self.inputs:
            inputs['settings'] = self.inputs.analysis_settings
        results, node = compute_trajectory_descriptors.run_get_node(**inputs)
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_DESCRIPTORS_FAILED.format(message=node.exit_message)
        self.ctx.analysis = results
        values = results['descriptors'].get_dict()
        diffusion = values['diffusion_coefficient_cm2_s']
        sigma = values.get('diffusion_coefficient_std_cm2_s', math.inf)
        self.ctx.relative_uncertainty = sigma / diffusion if diffusion > 0 else math.inf
        self.report(
            f'after {self.ctx.steps_done} steps ({times[-1]:.2f} ps): D = {diffusion:.3e} ± {sigma:.1e} cm²/s '
            f'({100 * self.ctx.relative_uncertainty:.0f} %), {values["mobile_ion_hops"]} hops'
        )

        drift = values.get('energy_drift_meV_atom_ps', self._segment_energy_drift(segments[-1]))
        if drift is not None and abs(drift) > self.inputs.max_energy_drift.value:
            self._attach_outputs()
            return self.exit_codes.ERROR_ENERGY_DRIFT.format(drift=drift, limit=self.inputs.max_energy_drift.value)
        ratio = values.get('lindemann_ratio')
        if ratio is not None and ratio > self.inputs.max_lindemann_ratio.value:
            self._attach_outputs()
            return self.exit_codes.ERROR_FRAMEWORK_MELTED.format(
                ratio=ratio, limit=self.inputs.max_lindemann_ratio.value
            )

        target = self.inputs.get('target_relative_uncertainty')
        reached_min = self.ctx.steps_done >= self.ctx.min_steps
        converged = reached_min and (target is None or self.ctx.relative_uncertainty <= target.value)
        if converged or self.ctx.steps_done >= self.ctx.max_steps or self.ctx.failure:
            self.ctx.done = True
        elif target is not None and reached_min:
            self.report(f'D not yet within {100 * target.value:.0f} %: another segment')
        return None

    @staticmethod
    def _segment_energy_drift(segment: orm.TrajectoryData) -> float | None:
        """The drift of the conserved energy within one segment (meV/atom/ps), when the stitched run has none."""
        if 'conserved_energy_eV' not in segment.get_arraynames():
            return None
        try:
            return energy_drift_meV_atom_ps(
                segment.get_times(), segment.get_array('conserved_energy_eV'), len(segment.symbols)
            )
        except ValueError:
            return None

    def _attach_outputs(self):
        for name, node in self.ctx.analysis.items():
            self.out(name, node)
        self.out('trajectory', self.ctx.trajectory)
        final_structure = self.ctx.get('final_structure')
        if final_structure is not None:
            self.out('output_structure', final_structure)

    def results(self):
        """Attach the outputs, report D and say, by the exit code, how far to trust it."""
        self._attach_outputs()
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
        if self.ctx.failure:
            pk, message = self.ctx.failure
            return self.exit_codes.ERROR_MD_INCOMPLETE.format(pk=pk, message=message)
        if values['mobile_ion_hops'] == 0 and self.ctx.steps_done >= self.ctx.max_steps:
            return self.exit_codes.ERROR_NO_HOPS.format(time_ps=self.ctx.trajectory.get_times()[-1])
        target = self.inputs.get('target_relative_uncertainty')
        if target is not None and not self.ctx.relative_uncertainty <= target.value:
            message = f'1σ/D = {self.ctx.relative_uncertainty:.2f} > {target.value:g} after {self.ctx.steps_done} steps'
            self.report(message)
            return self.exit_codes.ERROR_NOT_CONVERGED.format(message=message)
        verdict_exit_codes = {
            'too_few_hops': self.exit_codes.ERROR_TOO_FEW_HOPS,
            'non_linear': self.exit_codes.ERROR_MSD_NOT_LINEAR,
        }
        if values['diffusivity_verdict'] in verdict_exit_codes:
            self.report(f'D is flagged: {values["diffusivity_reason"]}')
            return verdict_exit_codes[values['diffusivity_verdict']].format(message=values['diffusivity_reason'])
        return None
