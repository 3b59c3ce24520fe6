"""``DielectricWorkChain``: Born charges and ε∞ (DFPT) and the band gap (static run), VASP only.

These are electronic quantities: the ASE engine (a force field) cannot give them, and this workchain refuses
it before anything runs. In the table they are then absent (None, NaN in pandas), never zero or invented.
"""

from __future__ import annotations

import pathlib

from aiida import orm
from aiida.engine import ToContext, WorkChain

from ..calculations.functions.compute_structural_descriptors import compute_structural_descriptors
from ..common.structure_checks import validate_structure
from .engines import TaskEngineMixin, check_engine_inputs, describe_process
from .protocols.builders import ZeroTemperatureProtocolMixin
from .protocols.utils import PROTOCOL_FOLDER
from .task import task_parameters

#: Why the ASE engine is refused (also in the docs).
NO_ELECTRONS = (
    'Born charges, ε∞ and the band gap need an electronic-structure code: use the `vasp` engine. With the ASE '
    'engine they are absent from the descriptors (None), never faked'
)


def validate_inputs(inputs, _) -> str | None:
    if 'engine' in inputs and inputs['engine'].value != 'vasp':
        return NO_ELECTRONS
    message = check_engine_inputs(inputs, ('static', 'dfpt'))
    if message:
        return message
    if not inputs['dielectric'].value and not inputs['band_gap'].value:
        return 'nothing to compute: `dielectric` and `band_gap` are both false'
    return None


class DielectricWorkChain(TaskEngineMixin, ZeroTemperatureProtocolMixin, WorkChain):
    """DFPT (Born effective charges, ion-clamped ε∞) and a static run (band gap) of one structure, in parallel,
    then the structural–compositional descriptors with these DFT quantities filled in."""

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the path of the protocol file, ``protocols/dielectric.yaml``."""
        return PROTOCOL_FOLDER / 'dielectric.yaml'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            validator=validate_structure,
            help='The relaxed structure.',
        )
        spec.input(
            'mobile_species',
            valid_type=orm.Str,
            required=False,
            help='The mobile ion (for its mean Born charge); by default the mobile-species precedence rule.',
        )
        spec.input('dielectric', valid_type=orm.Bool, default=lambda: orm.Bool(True), help='Run DFPT.')
        spec.input('band_gap', valid_type=orm.Bool, default=lambda: orm.Bool(True), help='Run the static calculation.')
        cls.define_engines(spec)
        spec.inputs['engine'].default = lambda: orm.Str('vasp')
        spec.inputs.validator = validate_inputs
        spec.outline(cls.run_tasks, cls.inspect_tasks, cls.results)
        spec.output(
            'nac_parameters',
            valid_type=orm.ArrayData,
            required=False,
            help='Arrays `born_charges` (atoms × 3 × 3, e) and `dielectric` (3 × 3, ε∞), site order of `structure`.',
        )
        spec.output('band_gap', valid_type=orm.Float, required=False, help='The band gap (eV).')
        spec.output(
            'descriptors',
            valid_type=orm.Dict,
            help='The structural–compositional descriptors with `born_charge`, `dielectric_constant`, '
            '`crystal_polarizability_A3` and `band_gap_eV`.',
        )
        spec.exit_code(401, 'ERROR_DFPT_FAILED', message='The DFPT calculation failed: {message}')
        spec.exit_code(402, 'ERROR_STATIC_FAILED', message='The static calculation failed: {message}')
        spec.exit_code(403, 'ERROR_DESCRIPTORS_FAILED', message='The descriptors could not be computed: {message}')

    @classmethod
    def _apply_protocol(cls, builder, inputs: dict) -> None:
        if builder.engine.value != 'vasp':
            raise ValueError(NO_ELECTRONS)
        builder.dielectric = orm.Bool(inputs['dielectric'])
        builder.band_gap = orm.Bool(inputs['band_gap'])

    def run_tasks(self):
        futures = {}
        if self.inputs.dielectric.value:
            futures['dfpt'] = self.submit_task(self.inputs.structure, task_parameters('dfpt'), 'dfpt')
        if self.inputs.band_gap.value:
            futures['static'] = self.submit_task(self.inputs.structure, task_parameters('static'), 'static')
        return ToContext(**futures)

    def inspect_tasks(self):
        if 'dfpt' in self.ctx:
            node = self.ctx.dfpt
            if not node.is_finished_ok or 'nac_parameters' not in node.outputs:
                return self.exit_codes.ERROR_DFPT_FAILED.format(message=describe_process(node))
            self.out('nac_parameters', node.outputs.nac_parameters)
        if 'static' in self.ctx:
            node = self.ctx.static
            if not node.is_finished_ok or 'band_gap' not in node.outputs:
                return self.exit_codes.ERROR_STATIC_FAILED.format(message=describe_process(node))
            self.out('band_gap', node.outputs.band_gap)
        return None

    def results(self):
        inputs = {'structure': self.inputs.structure}
        if 'mobile_species' in self.inputs:
            inputs['mobile_species'] = self.inputs.mobile_species
        if 'nac_parameters' in self.outputs:
            inputs['dielectric'] = self.outputs['nac_parameters']
        if 'band_gap' in self.outputs:
            inputs['band_gap'] = self.outputs['band_gap']
        result, node = compute_structural_descriptors.run_get_node(
            **inputs, metadata={'call_link_label': 'structural_descriptors'}
        )
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_DESCRIPTORS_FAILED.format(message=node.exit_message)
        self.out('descriptors', result)
        values = result.get_dict()
        self.report(
            f'Z* of the mobile ion = {values["born_charge"]}, ε∞ = {values["dielectric_constant"]}, '
            f'E_g = {values["band_gap_eV"]} eV'
        )
        return None
