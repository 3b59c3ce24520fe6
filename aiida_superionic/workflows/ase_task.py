"""``AseTaskWorkChain``: one static or relax task with the ASE engine, behind the common task interface.

The interface (inputs, outputs, units, exit codes) is defined in ``task.py``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from ..calculations.ase import AseCalculation
from ..calculations.functions.ase_task_outputs import ase_task_outputs
from .task import TASK_PARAMETERS, define_task_interface


class AseTaskWorkChain(BaseRestartWorkChain):
    """A static calculation or a relaxation with ``AseCalculation``, restarted where that can help.

    A relaxation that stops short of the force threshold, at the wall time or killed, continues from
    its last structure; a calculator that crashes is retried once; a computer without the recorded
    model fails at once (retrying cannot help). The outputs are those of the task interface:
    energy in eV, forces in eV/Å, stress in GPa positive in tension.
    """

    _process_class = AseCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_task_interface(spec, 'ase')
        spec.expose_inputs(
            AseCalculation,
            namespace='ase',
            exclude=('structure', 'parameters', 'velocities'),
            namespace_options={'help': 'Inputs of `AseCalculation`: `code`, `model` and `metadata.options`.'},
        )
        spec.inputs['max_iterations'].default = lambda: orm.Int(5)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )

    def setup(self):
        super().setup()
        parameters = self.inputs.parameters.get_dict()
        self.ctx.parameters = {**TASK_PARAMETERS[parameters['task']], **parameters}
        self.ctx.retried = set()
        self.ctx.inputs = self.exposed_inputs(AseCalculation, namespace='ase')
        self.ctx.inputs['structure'] = self.inputs.structure
        self.ctx.inputs['parameters'] = orm.Dict(self.ctx.parameters)

    def _continue_relaxation(self, node, why: str) -> bool:
        """Set up the next job from the last structure of ``node``; False when it has none."""
        if self.ctx.parameters['task'] != 'relax' or 'output_structure' not in node.outputs:
            return False
        self.ctx.inputs['structure'] = node.outputs.output_structure
        self.report(f'{node.process_label}<{node.pk}> {why}; continuing the relaxation from its last structure')
        return True

    def inspect_process(self):
        """A relaxation still above the threshold after the last job allowed stops with 330 and its last structure.

        (``BaseRestartWorkChain`` checks the job limit before the handlers, and would give 401 without it.)
        """
        node = self.ctx.children[self.ctx.iteration - 1]
        not_converged = AseCalculation.exit_codes.ERROR_RELAX_NOT_CONVERGED.status
        if node.exit_status == not_converged and self.ctx.iteration >= self.inputs.max_iterations.value:
            self.out('structure', node.outputs.output_structure)
            reported = node.outputs.output_parameters
            return self.exit_codes.ERROR_RELAX_NOT_CONVERGED.format(
                message=f'{self.ctx.iteration} jobs, the last one {reported.get("relax_steps")} steps; largest force '
                f'{reported.get("max_force_eV_A"):.4f} eV/Å'
            )
        return super().inspect_process()

    @process_handler(priority=600, exit_codes=[AseCalculation.exit_codes.ERROR_RELAX_NOT_CONVERGED])
    def handle_relax_not_converged(self, node):
        """The relaxation used its steps: continue from its last structure."""
        self._continue_relaxation(node, 'reached its step limit above the force threshold')
        return ProcessHandlerReport(do_break=True)

    @process_handler(
        priority=500,
        exit_codes=[AseCalculation.exit_codes.ERROR_OUT_OF_WALLTIME, AseCalculation.exit_codes.ERROR_OUTPUT_MISSING],
    )
    def handle_stopped_early(self, node):
        """The job hit the wall time or was killed: a relaxation continues, a static calculation runs again."""
        if not self._continue_relaxation(node, 'stopped early'):
            self.report(f'{node.process_label}<{node.pk}> stopped early; running it again')
        return ProcessHandlerReport(do_break=True)

    @process_handler(
        priority=400,
        exit_codes=[AseCalculation.exit_codes.ERROR_CALCULATOR_FAILED, AseCalculation.exit_codes.ERROR_OUTPUT_CORRUPT],
    )
    def handle_engine_crashed(self, node):
        """The calculator failed: retry once."""
        message = node.exit_message or f'exit status {node.exit_status}'
        if 'crashed' in self.ctx.retried:
            return ProcessHandlerReport(
                do_break=True, exit_code=self.exit_codes.ERROR_ENGINE_FAILED.format(engine='ASE', message=message)
            )
        self.ctx.retried.add('crashed')
        self.report(f'{node.process_label}<{node.pk}> failed ({message}); running it once more')
        return ProcessHandlerReport(do_break=True)

    @process_handler(
        priority=300,
        exit_codes=[AseCalculation.exit_codes.ERROR_MODEL_MISMATCH, AseCalculation.exit_codes.ERROR_DEVICE_UNAVAILABLE],
    )
    def handle_model_mismatch(self, node):
        """The computer has other weights than the recorded model, or not the device asked for: retrying cannot help."""
        return ProcessHandlerReport(
            do_break=True,
            exit_code=self.exit_codes.ERROR_ENGINE_FAILED.format(engine='ASE', message=node.exit_message),
        )

    def results(self):
        """Output the last job's results in the interface's units."""
        node = self.ctx.children[self.ctx.iteration - 1]
        if 'output_arrays' not in node.outputs:
            return self.exit_codes.ERROR_OUTPUT_MISSING.format(quantity='forces')
        outputs = ase_task_outputs(
            node.outputs.output_parameters,
            node.outputs.output_arrays,
            node.inputs.parameters,
            node.inputs.model,
            metadata={'call_link_label': 'task_outputs'},
        )
        self.out_many(outputs)
        relaxed = self.ctx.parameters['task'] == 'relax'
        self.out('structure', node.outputs.output_structure if relaxed else self.inputs.structure)
        self.report(
            f'{self.ctx.parameters["task"]} done in {self.ctx.iteration} job(s): E = {outputs["energy"].value:.6f} eV'
        )
