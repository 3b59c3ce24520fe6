"""Parser of ``AseCalculation``: runner output, static arrays, relaxed structure, MD trajectory."""

from __future__ import annotations

import json
import pathlib

import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from ..common.trajectory import FRAME_ARRAYS, build_trajectory
from ..engines.ase import runner

#: Runner status -> exit code label of ``AseCalculation``.
STATUS_EXIT_CODES = {
    'walltime': 'ERROR_OUT_OF_WALLTIME',
    'unstable': 'ERROR_MD_UNSTABLE',
    'calculator_failed': 'ERROR_CALCULATOR_FAILED',
    'model_mismatch': 'ERROR_MODEL_MISMATCH',
    'device_unavailable': 'ERROR_DEVICE_UNAVAILABLE',
}

#: Output keys too large for the ``output_parameters`` Dict: they become other outputs.
BULKY_KEYS = ('forces_eV_A', 'stress_eV_A3', 'final_structure', 'final_velocities_A_ps', 'traceback')


class AseParser(Parser):
    """Turn the files of the ASE runner into nodes; keep every complete frame whatever happened."""

    def parse(self, **kwargs):
        task = self.node.inputs.parameters['task']
        trajectory_error = None
        if task == 'md':
            trajectory_error = self._parse_trajectory(kwargs.get('retrieved_temporary_folder'))

        try:
            output = json.loads(self.retrieved.base.repository.get_object_content(runner.OUTPUT_FILENAME))
        except FileNotFoundError:
            return self.exit_codes.ERROR_OUTPUT_MISSING
        except json.JSONDecodeError as exception:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(error=str(exception))

        self.out('output_parameters', orm.Dict({k: v for k, v in output.items() if k not in BULKY_KEYS}))
        if output.get('model', {}).get('device'):  # the job built the calculator: what it ran, as it recorded it
            self.out('model_used', orm.Dict(output['model']))
        if 'final_structure' in output:
            self.out('output_structure', _structure_node(output['final_structure']))
        if task in ('static', 'relax') and 'forces_eV_A' in output:
            arrays = orm.ArrayData()
            arrays.set_array('forces', np.array(output['forces_eV_A']))
            if 'stress_eV_A3' in output:
                arrays.set_array('stress', np.array(output['stress_eV_A3']))
            self.out('output_arrays', arrays)

        status = output.get('status')
        if status in STATUS_EXIT_CODES:
            exit_code = getattr(self.exit_codes, STATUS_EXIT_CODES[status])
            return exit_code.format(error=output.get('error') or output.get('md_message', ''))
        if task == 'md' and trajectory_error:
            return self.exit_codes.ERROR_TRAJECTORY_MISSING.format(error=trajectory_error)
        if task == 'relax' and not output.get('relax_converged', False):
            return self.exit_codes.ERROR_RELAX_NOT_CONVERGED
        return ExitCode(0)

    def _parse_trajectory(self, temporary_folder: str | None) -> str | None:
        """Attach the ``trajectory`` output from the runner's files; return an error message or None."""
        if temporary_folder is None:
            return 'no temporary retrieved folder'
        data_path = pathlib.Path(temporary_folder) / runner.TRAJECTORY_DATA_FILENAME
        header_name = runner.TRAJECTORY_HEADER_FILENAME
        if not data_path.is_file() or header_name not in self.retrieved.base.repository.list_object_names():
            return 'the trajectory files were not written'
        with self.retrieved.base.repository.as_path(header_name) as header_path:
            try:
                frames = runner.read_trajectory(header_path, data_path)
            except (ValueError, KeyError, json.JSONDecodeError) as exception:
                return str(exception)
        if frames['dropped_bytes']:
            self.logger.warning(
                f'dropped a partial last frame ({frames["dropped_bytes"]} bytes); '
                f'{frames["complete_frames"]} complete frames kept'
            )
        if frames['complete_frames'] == 0:
            return 'the trajectory holds no complete frame'
        self.out(
            'trajectory',
            build_trajectory(
                symbols=frames['header']['symbols'],
                positions=frames['positions'],
                cells=frames['cells'],
                times_ps=frames['time_ps'],
                steps=frames['step'].astype(int),
                velocities=frames['velocities'],
                frame_arrays={name: frames[name] for name in FRAME_ARRAYS},
                wrapped=False,
            ),
        )
        return None


def _structure_node(structure: dict) -> orm.StructureData:
    from ase import Atoms

    atoms = Atoms(
        symbols=structure['symbols'],
        positions=structure['positions'],
        cell=structure['cell'],
        pbc=structure['pbc'],
    )
    return orm.StructureData(ase=atoms)
