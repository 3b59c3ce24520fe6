"""``AseMdSegmentWorkChain``: one MD segment with the ASE engine, restarted from its last frame when it stops early.

The engines' common segment interface is defined in ``segment.py``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from ..calculations.ase import AseCalculation
from ..calculations.functions.last_frame import last_frame
from ..calculations.functions.stitch_trajectories import stitch_trajectories
from .running import end_scheduler_job
from .segment import SEGMENT_PARAMETERS, validate_segment_parameters, whole_write_intervals

#: Jobs one segment may take (each stopped at the wall time and continued) before it gives up.
MAX_JOBS_PER_SEGMENT = 20


class AseMdSegmentWorkChain(BaseRestartWorkChain):
    """One NVT MD segment with ``AseCalculation``, continued from its last complete frame when it stops early.

    A job stopped at the wall time or killed keeps its frames: the next job starts from the last
    of them with its positions and velocities and runs the steps that remain, and the pieces are
    stitched into one trajectory. A calculator that crashes is retried once from the last
    complete frame; an MD that becomes unstable is retried once from its last frame with half the
    time step (twice the write interval: the same time between frames).
    """

    _process_class = AseCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            AseCalculation,
            namespace='ase',
            exclude=('structure', 'parameters', 'velocities'),
            namespace_options={'help': 'Inputs of `AseCalculation`: `code`, `model` and `metadata.options`.'},
        )
        spec.input('structure', valid_type=orm.StructureData, help='Positions and cell at the start of the segment.')
        spec.input(
            'velocities',
            valid_type=orm.ArrayData,
            required=False,
            help='Velocities at the start (array `velocities`, atoms × 3, Å/ps); '
            'absent: drawn from the Maxwell–Boltzmann distribution with `seed`.',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            validator=validate_segment_parameters,
            help='MD parameters: ' + ', '.join(f'`{key}`' for key in SEGMENT_PARAMETERS) + ' (K, fs, steps).',
        )
        # A job continued after the wall time has made progress: allow a long segment many of them.
        spec.inputs['max_iterations'].default = lambda: orm.Int(MAX_JOBS_PER_SEGMENT)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.output(
            'trajectory', valid_type=orm.TrajectoryData, help='The recorded frames; times from the start state.'
        )
        spec.output('final_structure', valid_type=orm.StructureData, help='Positions and cell of the last frame.')
        spec.output(
            'final_velocities',
            valid_type=orm.ArrayData,
            help='Velocities of the last frame (array `velocities`, Å/ps).',
        )
        spec.exit_code(
            320,
            'ERROR_ENGINE_CRASHED',
            message='The calculator failed twice in this segment: {message}',
        )
        spec.exit_code(
            321,
            'ERROR_MD_UNSTABLE',
            message='The MD became unstable again with half the time step: {message}',
        )
        spec.exit_code(322, 'ERROR_NO_PROGRESS', message='Two jobs in a row stopped without writing a new frame.')
        spec.exit_code(
            323,
            'ERROR_MODEL_MISMATCH',
            message='The computer cannot run the recorded model (no retry can help): {message}',
        )

    def setup(self):
        super().setup()
        parameters = {**SEGMENT_PARAMETERS, **self.inputs.parameters.get_dict()}
        self.ctx.parameters = parameters
        self.ctx.remaining_fs = parameters['steps'] * parameters['timestep_fs']  # production time still to run
        self.ctx.pieces = []  # trajectories of the jobs of this segment, in order
        self.ctx.retried = set()  # problems already retried once
        self.ctx.without_progress = 0
        self.ctx.inputs = self._job_inputs(self.inputs.structure, self.inputs.get('velocities'), parameters)

    def inspect_process(self):
        """A job that excepted is run again once, as it was; anything else goes to the handlers.

        A job excepts when its daemon worker stops while the job reports a change of state to the broker
        (`CommunicatorClosed`, an aiida-core race at `verdi daemon stop`): the fault is the daemon's, not the job's.
        Its scheduler job, if still running, is ended first so the same MD never runs twice.
        """
        node = self.ctx.children[self.ctx.iteration - 1]
        if not node.is_excepted or 'excepted' in self.ctx.retried:
            return super().inspect_process()
        self.ctx.retried.add('excepted')
        reason = (node.exception or '').strip().splitlines()[-1:] or ['no traceback']
        try:
            end_scheduler_job(node)
        except Exception as exception:  # the job cannot be reached: better a failed segment than the MD twice
            self.report(
                f'{node.process_label}<{node.pk}> excepted ({reason[0]}) and its job could not be ended: {exception}'
            )
            return self.exit_codes.ERROR_SUB_PROCESS_EXCEPTED
        self.report(f'{node.process_label}<{node.pk}> excepted ({reason[0]}); running it again from the same start')
        return None

    def _job_inputs(self, structure, velocities, parameters: dict) -> dict:
        inputs = self.exposed_inputs(AseCalculation, namespace='ase')
        inputs['structure'] = structure
        inputs['parameters'] = orm.Dict({'task': 'md', **parameters})
        if velocities is not None:
            inputs['velocities'] = velocities
        return inputs

    def _continue_from_last_frame(self, node, **changes) -> bool:
        """Keep the frames ``node`` wrote and set up a job for the remaining steps from its last frame.

        Return False when it wrote no frame beyond its start state (nothing to continue from).
        """
        trajectory = node.outputs.trajectory if 'trajectory' in node.outputs else None
        if trajectory is None or trajectory.numsteps < 2:
            return False
        steps_done = int(trajectory.get_stepids()[-1])  # production steps of this job up to its last frame
        self.ctx.pieces.append(trajectory)
        state = last_frame(trajectory, metadata={'call_link_label': f'last_frame_{len(self.ctx.pieces):02d}'})
        self.ctx.remaining_fs -= steps_done * self.ctx.parameters['timestep_fs']
        parameters = {**self.ctx.parameters, **changes, 'equilibration_steps': 0}
        parameters['steps'] = self._steps_for(self.ctx.remaining_fs, parameters)
        self.ctx.parameters = parameters
        self.ctx.inputs = self._job_inputs(state['structure'], state.get('velocities'), parameters)
        self.report(
            f'{node.process_label}<{node.pk}> stopped after {steps_done} steps ({trajectory.numsteps} frames kept); '
            f'continuing from its last frame for the {parameters["steps"]} steps that remain'
        )
        return True

    @staticmethod
    def _steps_for(time_fs: float, parameters: dict) -> int:
        """Steps of ``parameters['timestep_fs']`` that cover ``time_fs``, in whole write intervals.

        The last step must be a recorded frame: the next job starts from it.
        """
        return whole_write_intervals(round(time_fs / parameters['timestep_fs']), parameters['write_interval'])

    @process_handler(
        priority=600,
        exit_codes=[AseCalculation.exit_codes.ERROR_OUT_OF_WALLTIME, AseCalculation.exit_codes.ERROR_OUTPUT_MISSING],
    )
    def handle_stopped_early(self, node):
        """The job hit the wall time or was killed: continue from its last complete frame."""
        if self._continue_from_last_frame(node):
            self.ctx.without_progress = 0
            return ProcessHandlerReport(do_break=True)
        self.ctx.without_progress += 1
        if self.ctx.without_progress >= 2:
            return ProcessHandlerReport(do_break=True, exit_code=self.exit_codes.ERROR_NO_PROGRESS)
        self.report(f'{node.process_label}<{node.pk}> stopped before its first frame; running it again')
        return ProcessHandlerReport(do_break=True)

    @process_handler(
        priority=700,
        exit_codes=[AseCalculation.exit_codes.ERROR_MODEL_MISMATCH, AseCalculation.exit_codes.ERROR_DEVICE_UNAVAILABLE],
    )
    def handle_model_mismatch(self, node):
        """Other weights on the computer than recorded, elements the model lacks, or not the device asked for: stop,
        with the job's reason."""
        message = node.exit_message or f'exit status {node.exit_status}'
        return ProcessHandlerReport(
            do_break=True, exit_code=self.exit_codes.ERROR_MODEL_MISMATCH.format(message=message)
        )

    @process_handler(
        priority=500,
        exit_codes=[
            AseCalculation.exit_codes.ERROR_CALCULATOR_FAILED,
            AseCalculation.exit_codes.ERROR_OUTPUT_CORRUPT,
            AseCalculation.exit_codes.ERROR_TRAJECTORY_MISSING,
        ],
    )
    def handle_engine_crashed(self, node):
        """The calculator failed: retry once, from the last complete frame when there is one."""
        message = node.exit_message or f'exit status {node.exit_status}'
        if 'crashed' in self.ctx.retried:
            return ProcessHandlerReport(
                do_break=True, exit_code=self.exit_codes.ERROR_ENGINE_CRASHED.format(message=message)
            )
        self.ctx.retried.add('crashed')
        if not self._continue_from_last_frame(node):
            self.report(f'{node.process_label}<{node.pk}> failed ({message}); running it once more')
        return ProcessHandlerReport(do_break=True)

    @process_handler(priority=400, exit_codes=[AseCalculation.exit_codes.ERROR_MD_UNSTABLE])
    def handle_unstable(self, node):
        """The MD blew up: once, from its last frame with half the time step and twice the write interval."""
        message = node.exit_message or 'unstable'
        if 'unstable' in self.ctx.retried:
            return ProcessHandlerReport(
                do_break=True, exit_code=self.exit_codes.ERROR_MD_UNSTABLE.format(message=message)
            )
        self.ctx.retried.add('unstable')
        halved = {
            'timestep_fs': self.ctx.parameters['timestep_fs'] / 2,
            'write_interval': self.ctx.parameters['write_interval'] * 2,
        }
        if not self._continue_from_last_frame(node, **halved):
            self.ctx.parameters.update(halved)
            self.ctx.parameters['steps'] = self._steps_for(self.ctx.remaining_fs, self.ctx.parameters)
            self.ctx.inputs['parameters'] = orm.Dict({'task': 'md', **self.ctx.parameters})
        self.report(
            f'{node.process_label}<{node.pk}> became unstable; halving the time step to {halved["timestep_fs"]} fs'
        )
        return ProcessHandlerReport(do_break=True)

    def results(self):
        """Stitch the pieces of the segment into one trajectory and give the state of its last frame."""
        node = self.ctx.children[self.ctx.iteration - 1]
        pieces = [*self.ctx.pieces, node.outputs.trajectory]
        if len(pieces) == 1:
            trajectory = pieces[0]
        else:
            segments = {f'segment_{index:02d}': piece for index, piece in enumerate(pieces)}
            trajectory = stitch_trajectories(**segments, metadata={'call_link_label': 'stitch_pieces'})['trajectory']
        state = last_frame(trajectory, metadata={'call_link_label': 'final_state'})
        self.out('trajectory', trajectory)
        self.out('final_structure', state['structure'])
        self.out('final_velocities', state['velocities'])
        self.report(f'segment done in {self.ctx.iteration} job(s): {trajectory.numsteps} frames')
