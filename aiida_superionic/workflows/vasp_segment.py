"""``VaspMdSegmentWorkChain``: one NVT MD segment with VASP, continued from its start positions and velocities.

The VASP engine behind the segment interface that every engine shares (``superionic.<engine>.md_segment``):
``structure`` and optional ``velocities`` in, the recorded ``trajectory`` and the ``final_structure`` and
``final_velocities`` of its last frame out, so that the next segment continues this one exactly.

A segment has up to two stages: an equilibration (``equilibration_steps`` > 0; not recorded) whose last state,
positions and velocities, starts the production (``steps``, recorded every ``write_interval`` steps). Each
stage is one ``VaspMdCalculation`` when all goes well. When a calculation stops early (the scheduler's wall
time, a node failure), the stage continues from the last state that has velocities (CONTCAR) for the steps
that remain, keeping the frames done; when the self-consistency stops at NELM, the next calculation uses
more robust electronic settings; a VASP that wrote nothing usable is run once more. The pieces of the
production are joined into one trajectory with a continuous time axis (``stitch_trajectories``).
"""

from __future__ import annotations

import math

import numpy as np
from aiida import orm
from aiida.common import AttributeDict
from aiida.common.exceptions import MultipleObjectsError, NotExistent
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, if_, process_handler, while_
from aiida_vasp.data.potcar import PotcarData

from ..calculations.functions.parse_vasp_md import parse_vasp_md
from ..calculations.vasp import VaspMdCalculation, validate_velocities
from ..engines.vasp import (
    MD_TAGS,
    electronic_incar,
    forbidden_md_tags,
    is_gamma_only,
    md_incar,
    nose_period_fs,
    nose_smass,
    piece_nblock,
    stronger_electronic_settings,
)
from .segment import ENGINE_PARAMETERS, SEGMENT_PARAMETERS, validate_segment_parameters

#: A Nosé period VASP reports further than this (relative) from the one asked for is reported as a warning.
NOSE_PERIOD_TOLERANCE = 0.2


def validate_incar(node: orm.Dict, _) -> str | None:
    """Refuse the MD tags that the workchain sets itself."""
    tags = forbidden_md_tags(node.get_dict())
    if tags:
        origins = '; '.join(f'{tag}: {MD_TAGS[tag.lower()]}' for tag in tags)
        return f'`vasp.incar` must not set {", ".join(tags)}: the workchain sets them ({origins})'
    return None


def validate_inputs(inputs, _) -> str | None:
    """One start velocity per site of the structure."""
    velocities = inputs.get('velocities')
    structure = inputs.get('structure')
    if velocities is not None and structure is not None and 'velocities' in velocities.get_arraynames():
        rows = velocities.get_shape('velocities')[0]
        if rows != len(structure.sites):
            return f'`velocities` has {rows} rows but the structure has {len(structure.sites)} sites'
    return None


class VaspMdSegmentWorkChain(BaseRestartWorkChain):
    """One MD segment with VASP (NVT, Nosé–Hoover, MDALGO = 2): equilibration, then recorded production.

    What VASP is asked (``engines.vasp.md_incar``): IBRION = 0, MDALGO = 2, ISYM = 0, ISIF = 2, TEBEG = TEEND
    = ``temperature_K``, POTIM = ``timestep_fs``, NSW the steps of the calculation, NBLOCK =
    ``write_interval`` and KBLOCK = NSW / NBLOCK, SMASS from ``thermostat_timescale_fs`` (the Nosé mass that
    ASE's chain gives its first thermostat, see ``engines.vasp.nose_smass``). ``seed`` is recorded and not
    used: VASP draws its own start velocities when none are given.

    Times of the ``trajectory`` count from the segment's start state: the first frame is at
    ``write_interval`` × ``timestep_fs``, the last at ``steps`` × ``timestep_fs``; there are no velocities per
    frame (VASP writes them for the last state only). ``final_structure`` and ``final_velocities`` are
    CONTCAR's state after the last step, which is the last frame.
    """

    _process_class = VaspMdCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.inputs['max_iterations'].default = lambda: orm.Int(10)
        spec.input('structure', valid_type=orm.StructureData, help='The start positions and cell (fixed).')
        spec.input(
            'velocities',
            valid_type=orm.ArrayData,
            required=False,
            validator=validate_velocities,
            help='The start velocities: array `velocities`, (atoms, 3), Å/ps, in the order of the sites. Absent: '
            'VASP draws them at `temperature_K`.',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            validator=validate_segment_parameters,
            help='The MD: `temperature_K`, `timestep_fs`, `steps` (recorded production steps, a multiple of '
            '`write_interval`), `write_interval` (steps between frames, NBLOCK; default 1), '
            '`equilibration_steps` (run first, not recorded; default 0), `thermostat_timescale_fs` (default 100) '
            'and `seed` (recorded, not used by VASP).',
        )
        spec.input_namespace('vasp', help='What VASP needs besides the MD: code, potentials, electronic settings.')
        spec.input('vasp.code', valid_type=orm.AbstractCode, help='The VASP code (`vasp_std`).')
        spec.input(
            'vasp.code_gamma',
            valid_type=orm.AbstractCode,
            required=False,
            help='A `vasp_gam` code, used instead of `code` when the k-points are Γ only (the default).',
        )
        spec.input('vasp.potential_family', valid_type=orm.Str, help='The POTCAR family (aiida-vasp).')
        spec.input(
            'vasp.potential_mapping',
            valid_type=orm.Dict,
            help='POTCAR of each kind or element, e.g. `{"Li": "Li_sv", "P": "P", "S": "S"}`.',
        )
        spec.input(
            'vasp.incar',
            valid_type=orm.Dict,
            required=False,
            validator=validate_incar,
            help='Electronic INCAR tags (ENCUT, PREC, EDIFF, ALGO, ISMEAR, SIGMA, ...) over the defaults of '
            '`engines.vasp.DEFAULT_ELECTRONIC_INCAR`. The MD tags (' + ', '.join(tag.upper() for tag in MD_TAGS) + ') '
            'are set by the workchain and refused here.',
        )
        spec.input(
            'vasp.kpoints',
            valid_type=orm.KpointsData,
            required=False,
            help='The k-points; default the Γ point only (then `code_gamma` is used when given).',
        )
        spec.input(
            'vasp.options',
            valid_type=orm.Dict,
            help='`metadata.options` of each calculation: `resources`, `max_wallclock_seconds`, `account`, ...',
        )
        spec.input(
            'vasp.settings',
            valid_type=orm.Dict,
            required=False,
            help="`settings` of each calculation (aiida-vasp's parser settings, extra files to retrieve, ...).",
        )
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            if_(cls.should_equilibrate)(
                cls.prepare_equilibration,
                while_(cls.should_run_process)(
                    cls.run_process,
                    cls.inspect_process,
                ),
                cls.inspect_equilibration,
            ),
            cls.prepare_production,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )

        spec.output(
            'trajectory',
            valid_type=orm.TrajectoryData,
            help='The recorded production frames: Cartesian positions (Å, wrapped as VASP writes them), cells, '
            'times (ps) and steps from the segment start, `potential_energy_eV`, `kinetic_energy_eV`, '
            '`conserved_energy_eV` (with the Nosé terms) and `temperature_K` per frame; no velocities.',
        )
        spec.output(
            'final_structure',
            valid_type=orm.StructureData,
            help='The state at the last frame (CONTCAR), with the kinds of `structure`.',
        )
        spec.output(
            'final_velocities',
            valid_type=orm.ArrayData,
            help='The velocities at the last frame (CONTCAR): array `velocities`, (atoms, 3), Å/ps.',
        )

        spec.exit_code(
            201,
            'ERROR_INVALID_POTENTIALS',
            message='The POTCARs of {formula} cannot be taken from the family `{family}`: {message}',
        )
        spec.exit_code(
            410,
            'ERROR_VASP_CRASHED',
            message='VASP wrote neither a frame nor a state twice in a row; the last, VaspMdCalculation<{pk}>, ended '
            'with exit status {status} ({message}). See its `vasp_output` and the scheduler output.',
        )
        spec.exit_code(
            411,
            'ERROR_VELOCITIES_LOST',
            message='VaspMdCalculation<{pk}> stopped at step {step} of {total} of the {stage} and its state there has '
            'no velocities ({reason}); continuing would draw new ones, so the segment stops. The frames done are '
            'in the outputs.',
        )
        spec.exit_code(
            412,
            'ERROR_ELECTRONIC_CONVERGENCE',
            message='The self-consistency still stopped at NELM (steps {steps}) with ALGO = {algo} and NELM = {nelm}; '
            'choose other electronic settings in `vasp.incar` (e.g. AMIX, BMIX, ISMEAR/SIGMA). The frames done are '
            'in the outputs.',
        )
        spec.exit_code(
            420,
            'ERROR_PARSING_FAILED',
            message='parse_vasp_md failed on VaspMdCalculation<{pk}>: {message}',
        )

    # ------------------------------------------------------------------------------------------------ setup

    def setup(self):
        """Fix the MD settings, the POTCARs, the code and the Nosé mass; the start state is the input."""
        super().setup()
        self.ctx.md = {**SEGMENT_PARAMETERS, 'seed': None, **self.inputs.parameters.get_dict()}
        md = self.ctx.md
        structure = self.inputs.structure
        try:
            self.ctx.potentials = PotcarData.get_potcars_from_structure(
                structure=structure,
                family_name=self.inputs.vasp.potential_family.value,
                mapping=self.inputs.vasp.potential_mapping.get_dict(),
            )
        except (ValueError, NotExistent, MultipleObjectsError) as exception:
            return self.exit_codes.ERROR_INVALID_POTENTIALS.format(
                formula=structure.get_formula(), family=self.inputs.vasp.potential_family.value, message=exception
            )
        kpoints = self.inputs.vasp.get('kpoints')
        gamma_only = kpoints is None or is_gamma_only(kpoints)
        self.ctx.code = self.inputs.vasp.code_gamma if gamma_only and 'code_gamma' in self.inputs.vasp else None
        self.ctx.electronic = electronic_incar(self.inputs.vasp.incar.get_dict() if 'incar' in self.inputs.vasp else {})
        self.ctx.smass = nose_smass(
            len(structure.sites), md['temperature_K'], md['thermostat_timescale_fs'], np.array(structure.cell)
        )
        self.ctx.nose_period_checked = False
        self.ctx.state = {
            'structure': structure,
            'velocities': self.inputs.get('velocities'),
            'step': 0,
            'from': 'the inputs',
        }
        period_fs = nose_period_fs(md['thermostat_timescale_fs'])
        self.report(
            f'VASP MD segment of {structure.get_formula()}: {md["equilibration_steps"]} equilibration and '
            f'{md["steps"]} production steps of {md["timestep_fs"]} fs at {md["temperature_K"]} K, a frame every '
            f'{md["write_interval"]} steps; SMASS = {self.ctx.smass:.6g} for a Nosé period of {period_fs:.4g} fs '
            f'({period_fs / md["timestep_fs"]:.4g} steps); '
            + ('start velocities given' if 'velocities' in self.inputs else 'VASP draws the start velocities')
            + (f'; seed {md["seed"]} recorded, not used by VASP' if md['seed'] is not None else '')
        )
        ignored = sorted(set(md) & set(ENGINE_PARAMETERS))
        if ignored:
            self.report(f'parameters {ignored} belong to other engines and are ignored (VASP has one Nosé thermostat)')
        return None

    def should_equilibrate(self) -> bool:
        return self.ctx.md['equilibration_steps'] > 0

    def prepare_equilibration(self):
        """Run ``equilibration_steps``, frames every gcd(equilibration_steps, write_interval) steps (not kept)."""
        steps = self.ctx.md['equilibration_steps']
        self._start_stage('equilibration', steps, math.gcd(steps, self.ctx.md['write_interval']))

    def inspect_equilibration(self):
        """The equilibration's last state (positions and velocities) starts the production."""
        if self.ctx.state['velocities'] is None:
            return self._velocities_lost(self.ctx.children[-1], f'state from {self.ctx.state["from"]}')
        self.report(
            f'equilibration done ({self.ctx.md["equilibration_steps"]} steps); the production starts from its last '
            f'state ({self.ctx.state["from"]})'
        )

    def prepare_production(self):
        """Run ``steps``, recorded every ``write_interval`` steps, from the current state."""
        self._start_stage('production', self.ctx.md['steps'], self.ctx.md['write_interval'])

    def _start_stage(self, stage: str, steps: int, record_interval: int) -> None:
        self.ctx.stage = stage
        self.ctx.stage_steps = steps
        self.ctx.record_interval = record_interval
        self.ctx.reference_step = 0
        self.ctx.conserved_energy_offset = 0.0
        self.ctx.trajectories = []
        self.ctx.state = {**self.ctx.state, 'step': 0}
        self.ctx.crashed = False
        self.ctx.is_finished = False
        self._prepare_calculation()

    # ------------------------------------------------------------------------------------------------ calculations

    def _prepare_calculation(self) -> None:
        """The inputs of the next calculation: from the current state's step to the end of the stage."""
        md = self.ctx.md
        first_step = self.ctx.state['step']
        nblock = piece_nblock(self.ctx.record_interval, first_step)
        nsw = self.ctx.stage_steps - first_step
        incar = md_incar(
            self.ctx.electronic,
            temperature_K=md['temperature_K'],
            timestep_fs=md['timestep_fs'],
            steps=nsw,
            nblock=nblock,
            smass=self.ctx.smass,
        )
        inputs = AttributeDict(
            {
                'code': self.ctx.code or self.inputs.vasp.code,
                'structure': self.ctx.state['structure'],
                'parameters': incar,
                'potential': self.ctx.potentials,
                'metadata': {
                    'options': self.inputs.vasp.options.get_dict(),
                    'label': f'{self.ctx.stage} steps {first_step + 1}-{self.ctx.stage_steps}',
                },
            }
        )
        if 'kpoints' in self.inputs.vasp:
            inputs.kpoints = self.inputs.vasp.kpoints
        if 'settings' in self.inputs.vasp:
            inputs.settings = self.inputs.vasp.settings.get_dict()
        if self.ctx.state['velocities'] is not None:
            inputs.velocities = self.ctx.state['velocities']
        self.ctx.inputs = inputs
        self.ctx.piece = {
            'first_step': first_step,
            'nsw': nsw,
            'nblock': nblock,
            'record_interval': self.ctx.record_interval,
            'reference_step': self.ctx.reference_step,
            'conserved_energy_offset_eV': self.ctx.conserved_energy_offset,
        }

    def run_process(self):
        """Submit the next calculation (with Γ-only k-points unless given)."""
        if 'kpoints' not in self.ctx.inputs:
            gamma = orm.KpointsData()
            gamma.set_kpoints_mesh([1, 1, 1])
            self.ctx.inputs.kpoints = gamma  # stored at submission, then reused by the continuations
        piece = self.ctx.piece
        self.report(
            f'{self.ctx.stage}: steps {piece["first_step"] + 1}-{self.ctx.stage_steps} (NSW {piece["nsw"]}, NBLOCK '
            f'{piece["nblock"]}, ALGO {self.ctx.electronic.get("algo")}, NELM {self.ctx.electronic.get("nelm")})'
        )
        return super().run_process()

    def inspect_process(self):
        """Parse the calculation that ended, keep its frames and last state, then let the handlers decide."""
        node = self.ctx.children[self.ctx.iteration - 1]
        self.ctx.summary = None
        self.ctx.progress = False
        if 'retrieved' in node.outputs:
            exit_code = self._parse(node)
            if exit_code is not None:
                return exit_code
        return super().inspect_process()

    def _parse(self, node):
        """Run ``parse_vasp_md`` on ``node`` and move the stage's state forward to what it reached."""
        self.ctx.summary = None
        self.ctx.progress = False
        piece = self.ctx.piece
        parameters = {'timestep_fs': float(self.ctx.md['timestep_fs']), **piece}
        results, call = parse_vasp_md.run_get_node(
            node.outputs.retrieved,
            orm.Dict(parameters),
            node.inputs.structure,
            metadata={'call_link_label': f'parse_iteration_{self.ctx.iteration:02d}'},
        )
        if not call.is_finished_ok:
            return self.exit_codes.ERROR_PARSING_FAILED.format(pk=node.pk, message=call.exit_message)
        summary = results['summary'].get_dict()
        self.ctx.summary = summary
        for warning in summary['warnings']:
            self.report(f'{node.process_label}<{node.pk}>: {warning}')
        self._check_nose_period(summary)
        if summary['final_step'] <= piece['first_step']:
            return None
        self.ctx.progress = True
        self.ctx.crashed = False
        # The next calculation restarts VASP's Nosé thermostat at zero: carry its energy over in the offset.
        if summary['nose_energy_eV'] is not None:
            self.ctx.conserved_energy_offset += summary['nose_energy_eV']
        else:
            self.report(
                f'no Nosé energy at step {summary["final_step"]}: a continuation may shift the conserved energy'
            )
        if self.ctx.stage == 'production' and 'trajectory' in results:
            self.ctx.trajectories.append(results['trajectory'])
            self.ctx.reference_step = summary['last_frame_step']
        self.ctx.state = {
            'structure': results['final_structure'],
            'velocities': results.get('final_velocities'),
            'step': summary['final_step'],
            'from': summary['final_state_from'],
        }
        self.report(
            f'{self.ctx.stage}: {node.process_label}<{node.pk}> reached step {summary["final_step"]} of '
            f'{self.ctx.stage_steps}, {summary["frames"]} frames kept, last state from {summary["final_state_from"]}'
        )
        return None

    def _check_nose_period(self, summary: dict) -> None:
        """Report, once, the Nosé period VASP chose next to the one asked for."""
        reported = summary.get('nose_period_steps')
        if self.ctx.nose_period_checked or reported is None:
            return
        self.ctx.nose_period_checked = True
        asked = nose_period_fs(self.ctx.md['thermostat_timescale_fs']) / self.ctx.md['timestep_fs']
        if abs(reported - asked) > NOSE_PERIOD_TOLERANCE * asked:
            self.report(
                f'WARNING: VASP reports a Nosé period of {reported:.4g} steps for SMASS = {self.ctx.smass:.6g}, '
                f'{asked:.4g} were asked for: the thermostat couples {"faster" if reported < asked else "slower"} '
                'than `thermostat_timescale_fs` says'
            )
        else:
            self.report(f'VASP reports a Nosé period of {reported:.4g} steps ({asked:.4g} asked for)')

    def _stage_complete(self) -> bool:
        return self.ctx.state['step'] >= self.ctx.stage_steps

    # ------------------------------------------------------------------------------------------------ handlers

    def _report_error_handled(self, node, action: str) -> None:
        """Report the outcome of ``node`` and what the handler does about it."""
        self.report(f'{node.process_label}<{node.pk}> ended with exit status {node.exit_status}: {node.exit_message}')
        self.report(f'action taken: {action}')

    def _continue(self, node, reason: str) -> ProcessHandlerReport:
        """Continue the stage from the current state (it must have velocities) for the steps that remain."""
        state = self.ctx.state
        if state['velocities'] is None:
            self._report_error_handled(node, f'{reason}; no velocities to continue with: stopping')
            exit_code = self._velocities_lost(node, f'state from {state["from"]}')
            return ProcessHandlerReport(do_break=True, exit_code=exit_code)
        self._prepare_calculation()
        self._report_error_handled(
            node,
            f'{reason}; continuing the {self.ctx.stage} from step {state["step"]} ({state["from"]}: positions and '
            f'velocities) for the {self.ctx.piece["nsw"]} steps that remain',
        )
        return ProcessHandlerReport(do_break=True)

    @process_handler(priority=600)
    def handle_vasp_crashed(self, node):
        """VASP wrote no frame and no state: run the same calculation once more, then fail with ERROR_VASP_CRASHED.

        Meant for transient failures (a node that died at start-up, a file system hiccup); a second failure
        in a row means the inputs or the installation need a look.
        """
        if self.ctx.progress:
            return None
        if self.ctx.crashed:
            self._report_error_handled(node, 'nothing usable for the second time in a row: giving up')
            self._attach_partial_outputs()
            exit_code = self.exit_codes.ERROR_VASP_CRASHED.format(
                pk=node.pk, status=node.exit_status, message=node.exit_message
            )
            return ProcessHandlerReport(do_break=True, exit_code=exit_code)
        self.ctx.crashed = True
        self._report_error_handled(node, 'no frame and no state were written: running the same calculation once more')
        return ProcessHandlerReport(do_break=True)

    @process_handler(priority=500)
    def handle_electronic_convergence(self, node):
        """The self-consistency stopped at NELM at some ionic step: more robust electronic settings from now on.

        VASP does not stop when the self-consistency reaches NELM: it moves the ions with those forces and
        goes on. Its frames are kept (they are reported), since VASP writes velocities for the last state only:
        the only states that could be restarted exactly are the start and the end of the calculation. The
        electronic settings climb one step (``engines.vasp.stronger_electronic_settings``: ALGO Fast → Normal →
        All, NELM 60 → 120 → 200) for every calculation that follows: the rest of a stopped stage, continued
        from its last state, and the production after an equilibration. ERROR_ELECTRONIC_CONVERGENCE when
        nothing is left to try and steps remain.
        """
        summary = self.ctx.summary or {}
        steps = summary.get('electronic_not_converged_steps') or []
        electronic_failure = node.exit_status == VaspMdCalculation.exit_codes.ERROR_ELECTRONIC_NOT_CONVERGED.status
        if not steps and not electronic_failure:
            return None
        where = f'at steps {steps}' if steps else 'at the last step'
        stronger = stronger_electronic_settings(self.ctx.electronic)
        if stronger is None and not self._stage_complete():
            self._report_error_handled(node, f'the self-consistency stopped at NELM {where}: nothing more to try')
            self._attach_partial_outputs()
            exit_code = self.exit_codes.ERROR_ELECTRONIC_CONVERGENCE.format(
                steps=steps, algo=self.ctx.electronic.get('algo'), nelm=self.ctx.electronic.get('nelm')
            )
            return ProcessHandlerReport(do_break=True, exit_code=exit_code)
        described = 'no stronger settings left'
        if stronger is not None:
            self.ctx.electronic, described = stronger
        reason = f'the self-consistency stopped at NELM {where} ({described})'
        if self._stage_complete():
            self._report_error_handled(
                node, f'{reason}; all steps of the {self.ctx.stage} are done: its frames and last state are kept'
            )
            self.ctx.is_finished = True
            return ProcessHandlerReport(do_break=True)
        return self._continue(node, reason)

    @process_handler(priority=400)
    def handle_unfinished_md(self, node):
        """The calculation stopped before its last step (wall time, node failure, STOPCAR): continue it.

        The frames done are kept; the stage goes on from the last state with velocities (CONTCAR's, at the
        step ``parse_vasp_md`` identified) for the steps that remain, with NBLOCK chosen so that the frames
        stay on the stage's grid of ``write_interval`` steps. Without velocities for that state (no usable
        CONTCAR) the segment stops with ERROR_VELOCITIES_LOST instead of drawing new velocities silently.
        """
        if self._stage_complete():
            return None
        reason = f'stopped at step {self.ctx.state["step"]} of {self.ctx.stage_steps} of the {self.ctx.stage}'
        return self._continue(node, reason)

    @process_handler(priority=100)
    def handle_complete_despite_failure(self, node):
        """The calculation failed (e.g. a VASP warning the parser treats as an error) but all its steps are done.

        Its frames and last state are as good as those of a successful one: keep them and report the error.
        """
        if not node.is_failed or not self._stage_complete():
            return None
        self._report_error_handled(node, f'all steps of the {self.ctx.stage} are done: its frames and state are kept')
        self.ctx.is_finished = True
        return ProcessHandlerReport(do_break=True)

    # ------------------------------------------------------------------------------------------------ results

    def _joined_trajectory(self) -> orm.TrajectoryData | None:
        """The production's pieces as one trajectory (``stitch_trajectories`` when there are several)."""
        pieces = self.ctx.trajectories
        if not pieces:
            return None
        if len(pieces) == 1:
            return pieces[0]
        from ..calculations.functions.stitch_trajectories import stitch_trajectories

        segments = {f'segment_{index:02d}': piece for index, piece in enumerate(pieces)}
        return stitch_trajectories(**segments, metadata={'call_link_label': 'stitch_pieces'})['trajectory']

    def _attach_partial_outputs(self) -> None:
        """Before failing: attach the production frames done so far and the last production state."""
        trajectory = self._joined_trajectory()
        if trajectory is not None:
            self.out('trajectory', trajectory)
        if self.ctx.stage == 'production' and self.ctx.state['step'] > 0:
            self.out('final_structure', self.ctx.state['structure'])
            if self.ctx.state['velocities'] is not None:
                self.out('final_velocities', self.ctx.state['velocities'])

    def _velocities_lost(self, node, reason: str):
        """Attach what is done and return ERROR_VELOCITIES_LOST."""
        self._attach_partial_outputs()
        return self.exit_codes.ERROR_VELOCITIES_LOST.format(
            pk=node.pk, step=self.ctx.state['step'], total=self.ctx.stage_steps, stage=self.ctx.stage, reason=reason
        )

    def results(self):
        """Attach the joined trajectory and the last state."""
        if self.ctx.state['velocities'] is None:
            return self._velocities_lost(self.ctx.children[-1], f'state from {self.ctx.state["from"]}')
        trajectory = self._joined_trajectory()
        self.out('trajectory', trajectory)
        self.out('final_structure', self.ctx.state['structure'])
        self.out('final_velocities', self.ctx.state['velocities'])
        times = trajectory.get_times()
        self.report(
            f'segment done after {self.ctx.iteration} calculation(s): {trajectory.numsteps} frames from '
            f'{times[0]:.6g} to {times[-1]:.6g} ps in {len(self.ctx.trajectories)} piece(s)'
        )
