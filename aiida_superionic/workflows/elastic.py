"""``ElasticWorkChain``: the elastic tensor from strained cells (or VASP's IBRION = 6) and the 13
mechanical–elastic descriptors."""

from __future__ import annotations

import pathlib

import numpy as np
from aiida import orm
from aiida.engine import ToContext, WorkChain, if_

from ..calculations.functions.compute_elastic_descriptors import (
    ELASTIC_TENSOR_ARRAY,
    ERROR_MECHANICALLY_UNSTABLE,
    compute_elastic_descriptors,
)
from ..calculations.functions.fit_elastic_tensor import fit_elastic_tensor
from ..calculations.functions.generate_strained_structures import generate_strained_structures
from ..common.structure_checks import validate_structure
from ..descriptors.elastic_fit import strain_deformations
from .engines import TaskEngineMixin, check_engine_inputs, describe_process
from .protocols.builders import ZeroTemperatureProtocolMixin
from .protocols.utils import PROTOCOL_FOLDER
from .task import task_parameters

#: Relative asymmetry of the fit (max |C_ij − C_ji| / max |C_ij|) above which the report warns.
NOISY_FIT_ASYMMETRY = 0.05

#: The methods of ``method``: finite strains through the task interface (any engine), or VASP's own finite
#: differences (IBRION = 6, ISIF = 3: one ``elastic`` task), VASP only.
METHODS = ('strains', 'vasp_ibrion6')

#: Why ``vasp_ibrion6`` needs the VASP engine (also in the docs).
IBRION6_NEEDS_VASP = (
    "`method` 'vasp_ibrion6' is VASP's own elastic tensor (IBRION = 6, ISIF = 3) and needs `engine` 'vasp'; "
    "on the {engine} engine use `method` 'strains' (finite strains through the task interface)"
)


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


def validate_method(node: orm.Str, _) -> str | None:
    if node.value not in METHODS:
        return f'`method` must be one of {list(METHODS)}, got {node.value!r}'
    return None


def check_method(method: str, engine: str, relax_ions: bool) -> str | None:
    """Return why ``method`` cannot run on ``engine`` with ``relax_ions``, or None."""
    if method == 'vasp_ibrion6':
        if engine != 'vasp':
            return IBRION6_NEEDS_VASP.format(engine=engine)
        if not relax_ions:
            return (
                "`relax_ions` false with `method` 'vasp_ibrion6': VASP gives both tensors in one run; the relaxed-ion "
                'one is used, the clamped-ion one is the `clamped_ion_elastic_tensor_GPa` array of `elastic_tensor`'
            )
    return None


def validate_inputs(inputs, _) -> str | None:
    method = inputs['method'].value if 'method' in inputs else 'strains'
    if method not in METHODS:
        return None  # the port validator of ``method`` says it
    engine = inputs['engine'].value if 'engine' in inputs else 'ase'
    relax_ions = inputs['relax_ions'].value if 'relax_ions' in inputs else True
    message = check_method(method, engine, relax_ions)
    if message:
        return message
    return check_engine_inputs(inputs, ('elastic',) if method == 'vasp_ibrion6' else ('static', 'relax'))


class ElasticWorkChain(TaskEngineMixin, ZeroTemperatureProtocolMixin, WorkChain):
    """The relaxed-ion elastic tensor of a structure and its descriptors, by finite strains on either engine or
    by VASP's own finite differences.

    The input structure is taken as the equilibrium one (relax it first, cell included). ``method``:

    - ``strains`` (default, either engine): each of the six independent strain components is applied at the
      magnitudes of ``strains``; in each strained cell the ions are relaxed at fixed cell (``relax_ions``) and
      the stress is read. pymatgen's ``ElasticTensor.from_independent_strains`` fits C_ij through the reference
      stress of the unstrained cell.
    - ``vasp_ibrion6`` (VASP only): one ``elastic`` task, VASP's IBRION = 6 with ISIF = 3 (NFREE = 2, POTIM =
      0.015: the task's defaults), whose relaxed-ion tensor ("TOTAL ELASTIC MODULI", ionic relaxation from the
      internal strain and the Γ-point force constants) is the ``elastic_tensor`` output as the task made it
      (with the clamped-ion tensor beside it). ``strains`` and ``max_force`` are not used; ``relax_ions`` must
      be true.

    ``compute_elastic_descriptors`` then gives the 13 mechanical–elastic descriptors. A tensor that is not
    mechanically stable is output all the same, for inspection, with exit status 410.
    """

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the path of the protocol file, ``protocols/elastic.yaml``."""
        return PROTOCOL_FOLDER / 'elastic.yaml'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structure',
            valid_type=orm.StructureData,
            validator=validate_structure,
            help='The equilibrium structure (relaxed, cell included).',
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
            help='Relax the ions in every strained cell (the relaxed-ion tensor, as the paper); false: clamped ions '
            '(`strains` only: `vasp_ibrion6` gives both tensors and needs it true).',
        )
        spec.input(
            'max_force',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.01),
            help='Force threshold of the ionic relaxations (eV/Å).',
        )
        spec.input(
            'method',
            valid_type=orm.Str,
            default=lambda: orm.Str('strains'),
            validator=validate_method,
            help="`strains`: finite strains through the task interface, on either engine; `vasp_ibrion6`: VASP's "
            'own finite differences (IBRION = 6, ISIF = 3) in one calculation, VASP only.',
        )
        cls.define_engines(spec)
        spec.inputs.validator = validate_inputs
        spec.outline(
            if_(cls.uses_strains)(
                cls.generate_strains,
                cls.run_strained,
                cls.inspect_strained,
                cls.fit,
            ).else_(
                cls.run_vasp_elastic,
                cls.inspect_vasp_elastic,
            ),
            cls.descriptors,
        )
        spec.output(
            'elastic_tensor',
            valid_type=orm.ArrayData,
            help='Array `elastic_tensor_GPa`: the 6 × 6 Voigt C (GPa); with `vasp_ibrion6` also '
            '`clamped_ion_elastic_tensor_GPa`.',
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
            404,
            'ERROR_VASP_ELASTIC_FAILED',
            message="VASP's elastic-tensor calculation (IBRION = 6) failed: {message}",
        )
        spec.exit_code(
            405, 'ERROR_DESCRIPTORS_FAILED', message='The descriptors of the elastic tensor were refused: {message}'
        )
        spec.exit_code(
            410,
            'ERROR_MECHANICALLY_UNSTABLE',
            message='The elastic tensor is not mechanically stable (it is output for inspection): {message}',
        )

    @classmethod
    def _apply_protocol(cls, builder, inputs: dict) -> None:
        message = check_method(inputs['method'], builder.engine.value, inputs['relax_ions'])
        if message:
            raise ValueError(message)
        builder.method = orm.Str(inputs['method'])
        builder.strains = orm.Dict(inputs['strains'])
        builder.relax_ions = orm.Bool(inputs['relax_ions'])
        builder.max_force = orm.Float(inputs['max_force'])

    def uses_strains(self) -> bool:
        return self.inputs.method.value == 'strains'

    def run_vasp_elastic(self):
        """One ``elastic`` task: VASP's IBRION = 6, ISIF = 3 on the input structure."""
        self.report(
            f"VASP's own elastic tensor (IBRION = 6, ISIF = 3) of {self.inputs.structure.get_formula()}: "
            '`strains` and `max_force` are not used'
        )
        return ToContext(elastic=self.submit_task(self.inputs.structure, task_parameters('elastic'), 'elastic'))

    def inspect_vasp_elastic(self):
        node = self.ctx.elastic
        if not node.is_finished_ok or 'elastic_tensor' not in node.outputs:
            message = _failure(node) if not node.is_finished_ok else f'{node.process_label}<{node.pk}> gave no tensor'
            return self.exit_codes.ERROR_VASP_ELASTIC_FAILED.format(message=message)
        self.ctx.elastic_tensor = node.outputs.elastic_tensor
        self.out('elastic_tensor', self.ctx.elastic_tensor)
        return None

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
        """The unstrained cell and every strained one, all at once, on one k-point mesh."""
        changes = self._fixed_kpoints()
        futures = {'reference': self.submit_task(self.inputs.structure, self._parameters(), 'reference', **changes)}
        for label, structure in self.ctx.strained.items():
            futures[label] = self.submit_task(structure, self._parameters(), label, **changes)
        return ToContext(**futures)

    def _fixed_kpoints(self) -> dict:
        """On VASP, the mesh of the unstrained cell for every cell: a mesh made from each strained cell's own
        spacing can gain or lose a point (Li3N at 0.25 Å⁻¹: 8×8×7 unstrained, 8×9×7 strained), a jump in the
        stresses that the finite differences would read as elasticity."""
        if self.engine != 'vasp' or 'kpoints' in self.inputs.vasp:
            return {}
        from ..engines.vasp.tasks import DEFAULT_KPOINTS_SPACING, kpoint_mesh

        spacing = self.inputs.vasp.kpoints_spacing.value if 'kpoints_spacing' in self.inputs.vasp else None
        mesh = kpoint_mesh(np.array(self.inputs.structure.cell), spacing or DEFAULT_KPOINTS_SPACING)
        kpoints = orm.KpointsData()
        kpoints.set_cell_from_structure(self.inputs.structure)
        kpoints.set_kpoints_mesh(mesh, offset=[0.0, 0.0, 0.0])
        self.report(f'every cell on the Γ-centred {"×".join(map(str, mesh))} mesh of the unstrained cell')
        return {'kpoints': kpoints, 'kpoints_spacing': None}

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
            return self.exit_codes.ERROR_DESCRIPTORS_FAILED.format(message=node.exit_message)
        self.out('descriptors', result)
        values = result.get_dict()
        self.report(f'B = {values["bulk_modulus_GPa"]:.1f} GPa, G = {values["shear_modulus_GPa"]:.1f} GPa')
        return None


def _has_stress(node) -> bool:
    return node.is_finished_ok and 'stress' in node.outputs


def _failure(node) -> str:
    if node.is_finished_ok:
        return f'{node.process_label}<{node.pk}> gave no stress'
    return describe_process(node)
