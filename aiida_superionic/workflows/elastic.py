"""``ElasticWorkChain``: the elastic tensor from strained cells and the 13 mechanical–elastic descriptors."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain

from ..calculations.functions.compute_elastic_descriptors import (
    ELASTIC_TENSOR_ARRAY,
    ERROR_MECHANICALLY_UNSTABLE,
    compute_elastic_descriptors,
)
from ..calculations.functions.fit_elastic_tensor import fit_elastic_tensor
from ..calculations.functions.generate_strained_structures import generate_strained_structures
from ..descriptors.elastic_fit import strain_deformations
from .engines import TaskEngineMixin, check_engine_inputs
from .protocols.builders import ZeroTemperatureProtocolMixin
from .task import task_parameters

#: Relative asymmetry of the fit (max |C_ij − C_ji| / max |C_ij|) above which the report warns.
NOISY_FIT_ASYMMETRY = 0.05


def validate_strains(node: orm.Dict, _) -> str | None:
    values = node.get_dict()
    unknown = set(values) - {'normal_strains', 'shear_strains'}
    if unknown:
        return f'unknown `strains` keys {sorted(unknown)}: give `normal_strains` and `shear_strains`'
    try:
        strain_deformations(values.get('normal_strains', []), values.get('shear_strains', []))
    except (TypeError, ValueError) as exception:
        return f'`strains`: {exception}'
    return None


def validate_inputs(inputs, _) -> str | None:
    return check_engine_inputs(inputs, ('static', 'relax'))


class ElasticWorkChain(TaskEngineMixin, ZeroTemperatureProtocolMixin, WorkChain):
    """The relaxed-ion elastic tensor of a structure by finite strains, on either engine, and its descriptors.

    The input structure is taken as the equilibrium one (relax it first, cell included). Each of the six
    independent strain components is applied at the magnitudes of ``strains``; in each strained cell the
    ions are relaxed at fixed cell (``relax_ions``) and the stress is read. pymatgen's
    ``ElasticTensor.from_independent_strains`` fits C_ij through the reference stress of the unstrained
    cell, and ``compute_elastic_descriptors`` gives the 13 mechanical–elastic descriptors. A tensor that is
    not mechanically stable is output all the same, for inspection, with exit status 410.
    """

    _protocol_name = 'elastic'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure', valid_type=orm.StructureData, help='The equilibrium structure (relaxed, cell included).'
        )
        spec.input(
            'strains',
            valid_type=orm.Dict,
            default=lambda: orm.Dict(
                {'normal_strains': [-0.01, -0.005, 0.005, 0.01], 'shear_strains': [-0.02, -0.01, 0.01, 0.02]}
            ),
            validator=validate_strains,
            help='Magnitudes of the normal strains and of the engineering shear strains, each non-zero and below 0.1.',
        )
        spec.input(
            'relax_ions',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(True),
            help='Relax the ions in every strained cell (the relaxed-ion tensor, as the paper); false: clamped ions.',
        )
        spec.input(
            'max_force',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.01),
            help='Force threshold of the ionic relaxations (eV/Å).',
        )
        cls.define_engines(spec)
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.generate_strains,
            cls.run_strained,
            cls.inspect_strained,
            cls.fit,
            cls.descriptors,
        )
        spec.output(
            'elastic_tensor', valid_type=orm.ArrayData, help='Array `elastic_tensor_GPa`: the 6 × 6 Voigt C (GPa).'
        )
        spec.output(
            'descriptors',
            valid_type=orm.Dict,
            required=False,
            help='The 13 mechanical–elastic descriptors, the density and `mechanically_stable`.',
        )
        spec.exit_code(
            401, 'ERROR_REFERENCE_FAILED', message='The calculation of the unstrained cell failed: {message}'
        )
        spec.exit_code(402, 'ERROR_STRAINED_FAILED', message='Calculations of strained cells failed: {message}')
        spec.exit_code(403, 'ERROR_FIT_FAILED', message='The elastic tensor could not be fitted: {message}')
        spec.exit_code(
            410,
            'ERROR_MECHANICALLY_UNSTABLE',
            message='The elastic tensor is not mechanically stable (it is output for inspection): {message}',
        )

    @classmethod
    def _apply_protocol(cls, builder, inputs: dict) -> None:
        builder.strains = orm.Dict(inputs['strains'])
        builder.relax_ions = orm.Bool(inputs['relax_ions'])
        builder.max_force = orm.Float(inputs['max_force'])

    def generate_strains(self):
        outputs = generate_strained_structures(
            self.inputs.structure, self.inputs.strains, metadata={'call_link_label': 'generate_strains'}
        )
        self.ctx.deformations = outputs.pop('deformations')
        self.ctx.strained = dict(sorted(outputs.items()))
        self.report(f'{len(self.ctx.strained)} strained cells of {self.inputs.structure.get_formula()}')

    def _parameters(self) -> dict:
        if self.inputs.relax_ions.value:
            return task_parameters('relax', relax_cell=False, fmax_eV_A=self.inputs.max_force.value)
        return task_parameters('static')

    def run_strained(self):
        """The unstrained cell and every strained one, all at once."""
        futures = {'reference': self.submit_task(self.inputs.structure, self._parameters(), 'reference')}
        for label, structure in self.ctx.strained.items():
            futures[label] = self.submit_task(structure, self._parameters(), label)
        return ToContext(**futures)

    def inspect_strained(self):
        reference = self.ctx.reference
        if not reference.is_finished_ok or 'stress' not in reference.outputs:
            return self.exit_codes.ERROR_REFERENCE_FAILED.format(message=_failure(reference))
        failed = [
            f'{label}: {_failure(self.ctx[label])}' for label in self.ctx.strained if not _has_stress(self.ctx[label])
        ]
        if failed:
            return self.exit_codes.ERROR_STRAINED_FAILED.format(message='; '.join(failed))
        return None

    def fit(self):
        stresses = {label: self.ctx[label].outputs.stress for label in self.ctx.strained}
        result, node = fit_elastic_tensor.run_get_node(
            self.ctx.deformations,
            self.ctx.reference.outputs.stress,
            **stresses,
            metadata={'call_link_label': 'fit_elastic_tensor'},
        )
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_FIT_FAILED.format(message=node.exit_message)
        self.ctx.elastic_tensor = result
        self.out('elastic_tensor', result)
        asymmetry = result.base.attributes.get('max_asymmetry_GPa')
        scale = abs(result.get_array(ELASTIC_TENSOR_ARRAY)).max()
        if asymmetry > NOISY_FIT_ASYMMETRY * scale:
            self.report(
                f'noisy fit: C_ij and C_ji differ by up to {asymmetry:.1f} GPa ({asymmetry / scale:.0%} of the '
                'largest C_ij); the symmetrised tensor is used. More strains or a smoother engine reduce it.'
            )
        return None

    def descriptors(self):
        result, node = compute_elastic_descriptors.run_get_node(
            self.ctx.elastic_tensor, self.inputs.structure, metadata={'call_link_label': 'elastic_descriptors'}
        )
        if node.exit_status == ERROR_MECHANICALLY_UNSTABLE:
            return self.exit_codes.ERROR_MECHANICALLY_UNSTABLE.format(message=node.exit_message)
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_FIT_FAILED.format(message=node.exit_message)
        self.out('descriptors', result)
        values = result.get_dict()
        self.report(f'B = {values["bulk_modulus_GPa"]:.1f} GPa, G = {values["shear_modulus_GPa"]:.1f} GPa')
        return None


def _has_stress(node) -> bool:
    return node.is_finished_ok and 'stress' in node.outputs


def _failure(node) -> str:
    if node.is_finished_ok:
        return f'{node.process_label}<{node.pk}> gave no stress'
    return f'{node.process_label}<{node.pk}> exit status {node.exit_status} {node.exit_message or ""}'.strip()
