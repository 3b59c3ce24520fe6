"""``VaspTaskWorkChain``: one zero-temperature task (``static``, ``relax``, ``dfpt`` or ``elastic``) with VASP.

The VASP engine behind the task interface that every engine shares (``superionic.<engine>.task``, see
``task.py``): ``structure`` and ``parameters`` in; ``energy`` (eV), ``forces`` (eV/Å), ``stress`` (GPa, positive
in tension), the final ``structure``, and for ``dfpt`` the ``nac_parameters``, for ``static`` the ``band_gap``,
for ``elastic`` the ``elastic_tensor`` (VASP's IBRION = 6 finite differences) out. The INCAR of each task, the
k-point mesh and the conversions are in ``engines.vasp.tasks``.

Why a ``BaseRestartWorkChain`` over aiida-vasp's ``VaspCalculation`` and not aiida-vasp's ``VaspWorkChain``
(``vasp.vasp``). The calculation, its input writers, its parser and exit codes, the POTCAR families and the
k-point meshes are aiida-vasp's, and they run on ``mock-vasp`` as they are. Its workchain would add restart
handlers, but not the ones the interface asks for: (1) a relaxation that does not converge must stop after
``max_iterations`` with 330 and its last structure as an output, where ``VaspWorkChain`` continues until its
own limit and fails with 401 and no output; (2) the self-consistency handler must climb the same ladder as the
MD engine (``engines.vasp.stronger_electronic_settings``: ALGO Normal → All, NELM 60 → 120 → 200), where
``VaspWorkChain`` has its own (NELM 150, AMIX 0.2 → 0.05, then ALGO All); (3) a crash is retried once, then 320.
Handlers of a nested ``VaspWorkChain`` cannot be replaced from outside, and wrapping it would stack two restart
loops with different counters. Its defaults would also have to be undone for every task (``clean_workdir``
True, monitors, INCAR massaging, a ``kpoints_spacing`` in units of 2π Å⁻¹). ``VaspMdSegmentWorkChain`` made the
same choice, so both VASP workchains restart alike.

What happens:

1. ``setup``: the POTCARs of the family; NELECT = Σ ZVAL − ``vasp.charge`` for a charged cell (ZVAL read from
   each POTCAR); the k-point mesh (``vasp.kpoints``, or a Γ-centred mesh from ``vasp.kpoints_spacing``, Å⁻¹
   with 2π, default 0.2, fixed for all calculations of the task); the electronic tags.
2. One ``VaspCalculation`` with the task's INCAR (``engines.vasp.tasks.task_incar``), restarted by the
   handlers below when needed.
3. ``results``: ``vasp_task_outputs`` (a calcfunction: provenance) turns aiida-vasp's ``misc``,
   ``born_charges``, ``dielectrics``, ``bands`` and (``elastic``) ``trajectory`` into the interface's nodes;
   for a relaxation, ``vasp_relaxed_structure`` gives the relaxed structure the input's kinds.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.common import AttributeDict
from aiida.common.exceptions import MultipleObjectsError, NotExistent
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_
from aiida.orm.nodes.data.base import to_aiida_type
from aiida_vasp.calcs.vasp import VaspCalculation
from aiida_vasp.data.potcar import PotcarData

from ..calculations.functions.vasp_task_outputs import vasp_relaxed_structure, vasp_task_outputs
from ..engines.vasp import stronger_electronic_settings
from ..engines.vasp.tasks import (
    DEFAULT_KPOINTS_SPACING,
    TASK_TAGS,
    electron_count,
    forbidden_task_tags,
    kpoint_mesh,
    needs_basis_refresh,
    task_electronic_incar,
    task_incar,
    task_parser_settings,
    volume_change,
    zval_from_potcar,
)
from .task import TASK_PARAMETERS, define_task_interface

_EXIT = VaspCalculation.exit_codes

#: Exit statuses of a ``VaspCalculation`` that left nothing to use: VASP did not run or died before writing
#: vasprun.xml and OUTCAR, or they cannot be read. The calculation runs once more, then the task fails (320).
CRASH_STATUSES = frozenset(
    code.status
    for code in (
        _EXIT.ERROR_VASP_DID_NOT_EXECUTE,
        _EXIT.ERROR_NO_RETRIEVED_FOLDER,
        _EXIT.ERROR_NO_RETRIEVED_TEMPORARY_FOLDER,
        _EXIT.ERROR_CRITICAL_MISSING_OBJECT,
        _EXIT.ERROR_DIAGNOSIS_OUTPUTS_MISSING,
        _EXIT.ERROR_NOT_ABLE_TO_PARSE_QUANTITY,
        _EXIT.ERROR_NOT_ABLE_TO_CREATE_NODE,
        _EXIT.ERROR_OVERFLOW_IN_XML,
    )
)


def validate_incar(node: orm.Dict, _) -> str | None:
    """Refuse the tags that the workchain sets itself."""
    tags = forbidden_task_tags(node.get_dict())
    if tags:
        origins = '; '.join(f'{tag}: {TASK_TAGS[tag.lower()]}' for tag in tags)
        return f'`vasp.incar` must not set {", ".join(tags)}: the workchain sets them ({origins})'
    return None


def validate_kpoints_spacing(node: orm.Float, _) -> str | None:
    if not node.value > 0:
        return f'`vasp.kpoints_spacing` must be positive (Å⁻¹, 2π included), got {node.value}'
    return None


def validate_vasp_inputs(inputs, _) -> str | None:
    """Either explicit k-points or a spacing, not both."""
    if inputs and 'kpoints' in inputs and 'kpoints_spacing' in inputs:
        return 'give either `vasp.kpoints` or `vasp.kpoints_spacing`, not both'
    return None


class VaspTaskWorkChain(BaseRestartWorkChain):
    """A static calculation, a relaxation, a linear response (Born charges, ε∞) or VASP's elastic tensor.

    INCAR per task (``engines.vasp.tasks.task_incar``, over the electronic tags of
    ``DEFAULT_TASK_ELECTRONIC_INCAR`` and ``vasp.incar``): ``static`` IBRION = −1, NSW = 0, ISIF = 2;
    ``relax`` IBRION = 2, ISIF = 2 (3 with ``relax_cell``), NSW = ``max_steps``, EDIFFG = −``fmax_eV_A``;
    ``dfpt`` LEPSILON = .TRUE., IBRION = 8, NSW = 1; ``elastic`` IBRION = 6, ISIF = 3, NSW = 1, NFREE and POTIM
    from ``parameters``. The energy is VASP's energy(σ→0), the stress −0.1 × VASP's kbar (GPa, positive in
    tension), the band gap the fundamental gap across the k-points of the mesh, 0 for a metal
    (``engines.vasp.tasks.band_gap``), the elastic tensor OUTCAR's "TOTAL ELASTIC MODULI" × 0.1 in the Voigt
    order xx yy zz yz xz xy (``engines.vasp.tasks.elastic_moduli_gpa``); for ``elastic`` the energy, forces and
    stress are the undistorted cell's, the first configuration of vasprun.xml.

    Handlers, by priority: a calculation that left nothing usable runs once more, then 320
    (``handle_vasp_crashed``); an error VASP reported (aiida-vasp's 703) fails at once with 320
    (``handle_vasp_error``); a self-consistency stopped at NELM climbs the electronic settings
    (``handle_electronic_convergence``), 320 when nothing is left; a relaxation that used its NSW steps or was
    stopped continues from its last structure, 330 with that structure after ``max_iterations`` calculations
    (``handle_relax_not_converged``); a converged cell relaxation whose volume changed by more than 1 % runs
    once more from its final cell, for the plane-wave basis of that cell (``handle_pulay_stress``); any other
    failure is retried once, then 320 (``handle_unknown_failure``).
    """

    _process_class = VaspCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        define_task_interface(spec, 'vasp')
        spec.inputs['max_iterations'].default = lambda: orm.Int(5)
        spec.input_namespace('vasp', help='What VASP needs besides the task: code, potentials, settings.')
        spec.input('vasp.code', valid_type=orm.AbstractCode, help='The VASP code (`vasp_std`).')
        spec.input(
            'vasp.potential_family',
            valid_type=orm.Str,
            serializer=to_aiida_type,
            help='The POTCAR family (aiida-vasp).',
        )
        spec.input(
            'vasp.potential_mapping',
            valid_type=orm.Dict,
            serializer=to_aiida_type,
            help='POTCAR of each kind or element, e.g. `{"Li": "Li_sv", "P": "P", "S": "S"}`.',
        )
        spec.input(
            'vasp.incar',
            valid_type=orm.Dict,
            required=False,
            serializer=to_aiida_type,
            validator=validate_incar,
            help='Electronic INCAR tags (ENCUT, PREC, EDIFF, ALGO, ISMEAR, SIGMA, ...) over the defaults of '
            '`engines.vasp.tasks.DEFAULT_TASK_ELECTRONIC_INCAR`. The task tags ('
            + ', '.join(tag.upper() for tag in TASK_TAGS)
            + ') are set by the workchain and refused here.',
        )
        spec.input(
            'vasp.kpoints',
            valid_type=orm.KpointsData,
            required=False,
            help='The k-points (a mesh or a list); or give `kpoints_spacing`.',
        )
        spec.input(
            'vasp.kpoints_spacing',
            valid_type=orm.Float,
            required=False,
            serializer=to_aiida_type,
            validator=validate_kpoints_spacing,
            help="Largest distance between k-points (Å⁻¹, 2π included, as VASP's KSPACING) of a Γ-centred mesh "
            f'built from the input cell: N_i = max(1, ceil(|b_i| / spacing)). Default {DEFAULT_KPOINTS_SPACING} when '
            'neither this nor `kpoints` is given.',
        )
        spec.input(
            'vasp.charge',
            valid_type=(orm.Int, orm.Float),
            required=False,
            serializer=to_aiida_type,
            help='Net charge of the cell (e; default 0): NELECT = Σ ZVAL of the POTCARs − charge. VASP adds the '
            "compensating background; corrections for the image interaction are the caller's.",
        )
        spec.input(
            'vasp.hubbard_u',
            valid_type=orm.Dict,
            required=False,
            serializer=to_aiida_type,
            help='DFT+U (Dudarev, LDAUTYPE 2) as `{element: [orbital, U (eV)]}`, e.g. `{"Fe": ["d", 5.3]}`: the '
            'LDAUL/LDAUU/LDAUJ lists are made for the structure of each calculation, in its POTCAR order, so a task '
            'on a cell without the element (an elemental reference) gets lists of its own species.',
        )
        spec.input(
            'vasp.options',
            valid_type=orm.Dict,
            serializer=to_aiida_type,
            help='`metadata.options` of each calculation: `resources`, `max_wallclock_seconds`, `account`, ...',
        )
        spec.input(
            'vasp.settings',
            valid_type=orm.Dict,
            required=False,
            serializer=to_aiida_type,
            help="`settings` of each calculation (aiida-vasp's parser settings, extra files to retrieve, ...); the "
            'parser settings a task needs are added (`engines.vasp.tasks.task_parser_settings`).',
        )
        spec.inputs['vasp'].validator = validate_vasp_inputs

        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(
                cls.run_process,
                cls.inspect_process,
            ),
            cls.results,
        )
        spec.exit_code(
            201,
            'ERROR_INVALID_POTENTIALS',
            message='The POTCARs of {formula} cannot be taken from the family `{family}`: {message}',
        )

    # ------------------------------------------------------------------------------------------------ setup

    def setup(self):
        """Fix the task, the POTCARs and NELECT, the k-point mesh and the electronic tags; prepare the first job."""
        super().setup()
        parameters = self.inputs.parameters.get_dict()
        self.ctx.task = {**TASK_PARAMETERS[parameters['task']], **parameters}
        task = self.ctx.task['task']
        structure = self.inputs.structure
        vasp = self.inputs.vasp
        family = vasp.potential_family.value
        try:
            self.ctx.potentials = PotcarData.get_potcars_from_structure(
                structure=structure, family_name=family, mapping=vasp.potential_mapping.get_dict()
            )
            zval = {
                kind: zval_from_potcar(potcar.get_content().decode('utf-8', errors='replace'))
                for kind, potcar in self.ctx.potentials.items()
            }
        except (ValueError, OSError, NotExistent, MultipleObjectsError) as exception:
            return self.exit_codes.ERROR_INVALID_POTENTIALS.format(
                formula=structure.get_formula(), family=family, message=exception
            )
        self.ctx.charge = float(vasp.charge.value) if 'charge' in vasp else 0.0
        neutral = electron_count([zval[site.kind_name] for site in structure.sites])
        self.ctx.nelect = electron_count([zval[site.kind_name] for site in structure.sites], self.ctx.charge)
        if 'kpoints' in vasp:
            self.ctx.kpoints_mesh = None
            self.ctx.kpoints_spacing = None
            described = 'k-points given'
        else:
            spacing = vasp.kpoints_spacing.value if 'kpoints_spacing' in vasp else DEFAULT_KPOINTS_SPACING
            self.ctx.kpoints_spacing = spacing
            self.ctx.kpoints_mesh = kpoint_mesh(np.array(structure.cell), spacing)
            described = f'Γ-centred {"×".join(map(str, self.ctx.kpoints_mesh))} mesh (spacing {spacing} Å⁻¹, 2π incl.)'
        self.ctx.kpoints = None  # made (and stored) at the first submission
        self.ctx.electronic = task_electronic_incar(task, vasp.incar.get_dict() if 'incar' in vasp else {})
        self.ctx.settings = task_parser_settings(task, vasp.settings.get_dict() if 'settings' in vasp else None)
        self.ctx.structure = structure
        self.ctx.crashed = False
        charged = (
            f'; charge {self.ctx.charge:+g} e: NELECT = {self.ctx.nelect:g} ({neutral:g} neutral)'
            if self.ctx.charge
            else f'; neutral ({neutral:g} valence electrons)'
        )
        self.report(f'VASP {task} of {structure.get_formula()} ({len(structure.sites)} sites): {described}{charged}')
        cell_changes = (task == 'relax' and self.ctx.task['relax_cell']) or task == 'elastic'
        if cell_changes and 'encut' not in self.ctx.electronic:
            what = 'a cell relaxation' if task == 'relax' else 'the lattice distortions of IBRION = 6'
            self.report(
                f'WARNING: {what} without ENCUT in `vasp.incar`: VASP takes the largest ENMAX of the '
                'POTCARs, and the stress suffers from the Pulay error (about 1.3 × ENMAX is advised)'
            )
        self._prepare_inputs()
        return None

    def _incar(self) -> dict:
        task = self.ctx.task
        electronic = dict(self.ctx.electronic)
        if 'hubbard_u' in self.inputs.vasp:
            from aiida_vasp.utils.ldau import get_ldau_keys

            mapping = self.inputs.vasp.hubbard_u.get_dict()
            keys = get_ldau_keys(self.ctx.structure, mapping=mapping)
            electronic.update({key.lower(): value for key, value in keys.items()})
        return task_incar(
            task['task'],
            electronic,
            relax_cell=task.get('relax_cell', False),
            fmax_eV_A=task.get('fmax_eV_A'),
            max_steps=task.get('max_steps'),
            nfree=task.get('nfree'),
            potim=task.get('potim'),
            nelect=self.ctx.nelect if self.ctx.charge else None,
        )

    def _prepare_inputs(self) -> None:
        """The inputs of the next calculation: the current structure and electronic tags."""
        self.ctx.inputs = AttributeDict(
            {
                'code': self.inputs.vasp.code,
                'structure': self.ctx.structure,
                'parameters': self._incar(),
                'potential': self.ctx.potentials,
                'settings': self.ctx.settings,
                'metadata': {
                    'options': self.inputs.vasp.options.get_dict(),
                    'label': f'{self.ctx.task["task"]} {self.ctx.structure.get_formula()}',
                },
            }
        )

    def run_process(self):
        """Submit the next calculation (with the task's k-points: one node for all its calculations)."""
        if self.ctx.kpoints is None:
            if 'kpoints' in self.inputs.vasp:
                self.ctx.kpoints = self.inputs.vasp.kpoints
            else:
                kpoints = orm.KpointsData()
                kpoints.set_cell_from_structure(self.inputs.structure)
                kpoints.set_kpoints_mesh(self.ctx.kpoints_mesh, offset=[0.0, 0.0, 0.0])
                self.ctx.kpoints = kpoints.store()
        self.ctx.inputs.kpoints = self.ctx.kpoints
        incar = self.ctx.inputs.parameters
        self.report(
            f'{self.ctx.task["task"]}: IBRION {incar["ibrion"]}, NSW {incar["nsw"]}, ISIF {incar.get("isif")}, '
            f'ALGO {incar.get("algo")}, NELM {incar.get("nelm")}'
            + (f', NELECT {incar["nelect"]:g}' if 'nelect' in incar else '')
        )
        return super().run_process()

    def inspect_process(self):
        """A calculation that left something usable ends a series of crashes; then the handlers decide."""
        node = self.ctx.children[self.ctx.iteration - 1]
        if not self._is_crash(node):
            self.ctx.crashed = False
        return super().inspect_process()

    # ------------------------------------------------------------------------------------------------ handlers

    def _is_relax(self) -> bool:
        return self.ctx.task['task'] == 'relax'

    def _is_crash(self, node) -> bool:
        """Whether ``node`` failed leaving nothing to continue from."""
        if not node.is_failed:
            return False
        if node.exit_status in CRASH_STATUSES or 'misc' not in node.outputs:
            return True
        stopped = node.exit_status == _EXIT.ERROR_DID_NOT_FINISH.status
        return stopped and not (self._is_relax() and 'structure' in node.outputs)

    def _describe(self, node) -> str:
        return f'{node.process_label}<{node.pk}> (exit status {node.exit_status}: {node.exit_message})'

    def _engine_failed(self, node, message: str) -> ProcessHandlerReport:
        self.report(f'{self._describe(node)}: {message}; giving up')
        exit_code = self.exit_codes.ERROR_ENGINE_FAILED.format(engine='VASP', message=message)
        return ProcessHandlerReport(do_break=True, exit_code=exit_code)

    def _restart(self, node, action: str) -> ProcessHandlerReport:
        """Run the next calculation (``self.ctx.inputs``), or fail with 320 when ``max_iterations`` are used up."""
        if self.ctx.iteration >= self.inputs.max_iterations.value:
            return self._engine_failed(
                node, f'{action}, but the {self.inputs.max_iterations.value} calculations of `max_iterations` are done'
            )
        self.report(f'{self._describe(node)}: {action}')
        return ProcessHandlerReport(do_break=True)

    def _retry_once(self, node, what: str) -> ProcessHandlerReport:
        if self.ctx.crashed:
            return self._engine_failed(node, f'{what}, twice in a row')
        self.ctx.crashed = True
        return self._restart(node, f'{what}: running the same calculation once more')

    def _continue_from(self, node) -> None:
        """Continue from the last structure of ``node``, with the kinds of the input."""
        self.ctx.structure = vasp_relaxed_structure(
            node.outputs.structure,
            self.inputs.structure,
            metadata={'call_link_label': f'structure_iteration_{self.ctx.iteration:02d}'},
        )

    @process_handler(priority=600)
    def handle_vasp_crashed(self, node):
        """Nothing usable was written (VASP did not start, died, or a static run was stopped): once more, then 320."""
        if not self._is_crash(node):
            return None
        return self._retry_once(node, 'VASP left nothing usable')

    @process_handler(priority=550, exit_codes=[_EXIT.ERROR_VASP_CRITICAL_ERROR])
    def handle_vasp_error(self, node):
        """VASP reported an error (aiida-vasp's 703: ZBRENT, EDDDAV, BRMIX, ...): the inputs need a look, 320."""
        return self._engine_failed(node, f'VASP reported an error: {node.exit_message}')

    @process_handler(priority=500, exit_codes=[_EXIT.ERROR_ELECTRONIC_NOT_CONVERGED])
    def handle_electronic_convergence(self, node):
        """The last self-consistency stopped at NELM: more robust electronic settings, from the last structure.

        The settings climb one step (``engines.vasp.stronger_electronic_settings``: ALGO VeryFast/Fast →
        Normal → All, NELM 60 → 120 → 200) and stay for every calculation that follows; a relaxation continues
        from where it is. 320 when ALGO is All and NELM 200 already. A relaxation's intermediate ionic steps
        that reach NELM are tolerated, as VASP does (they are reported with the results).
        """
        stronger = stronger_electronic_settings(self.ctx.electronic)
        if stronger is None:
            return self._engine_failed(
                node,
                f'the self-consistency stopped at NELM = {self.ctx.electronic.get("nelm")} with ALGO = '
                f'{self.ctx.electronic.get("algo")}, the most robust settings tried; choose others in `vasp.incar` '
                '(AMIX, BMIX, ISMEAR/SIGMA, ...)',
            )
        self.ctx.electronic, described = stronger
        if self._is_relax() and 'structure' in node.outputs:
            self._continue_from(node)
        self._prepare_inputs()
        return self._restart(node, f'the self-consistency stopped at NELM: {described}')

    @process_handler(priority=400, exit_codes=[_EXIT.ERROR_IONIC_NOT_CONVERGED, _EXIT.ERROR_DID_NOT_FINISH])
    def handle_relax_not_converged(self, node):
        """A relaxation used its NSW ionic steps, or was stopped: continue from its last structure.

        That is aiida-vasp's output structure: vasprun.xml's last one, which is CONTCAR's for a run that ended
        (a killed run's CONTCAR may be one optimiser step further, without energy or forces). After
        ``max_iterations`` calculations: 330 ``ERROR_RELAX_NOT_CONVERGED``, with the last structure as the
        ``structure`` output.
        """
        if not self._is_relax() or 'structure' not in node.outputs:
            return None
        self._continue_from(node)
        why = (
            f'used its NSW = {self.ctx.task["max_steps"]} ionic steps above the force threshold'
            if node.exit_status == _EXIT.ERROR_IONIC_NOT_CONVERGED.status
            else 'stopped before its end (wall time, node failure)'
        )
        forces = node.outputs.misc.get('forces')
        largest = float(np.linalg.norm(np.asarray(forces, dtype=float), axis=1).max()) if forces else float('nan')
        if self.ctx.iteration >= self.inputs.max_iterations.value:
            self.out('structure', self.ctx.structure)
            message = (
                f'{self.ctx.iteration} calculations of up to {self.ctx.task["max_steps"]} ionic steps; the last one '
                f'{why}, its largest force {largest:.4g} eV/Å (threshold {self.ctx.task["fmax_eV_A"]} eV/Å)'
            )
            self.report(f'{self._describe(node)}: {message}; giving up')
            return ProcessHandlerReport(
                do_break=True, exit_code=self.exit_codes.ERROR_RELAX_NOT_CONVERGED.format(message=message)
            )
        self._prepare_inputs()
        return self._restart(node, f'{why} (largest force {largest:.4g} eV/Å): continuing from its last structure')

    @process_handler(priority=300)
    def handle_pulay_stress(self, node):
        """A converged cell relaxation whose volume changed by more than 1 %: once more from its final cell.

        VASP keeps the plane-wave basis of the start cell; only a calculation that starts from the final cell
        has the cut-off asked for there (``engines.vasp.tasks.needs_basis_refresh``). With ``max_iterations``
        used up, the relaxation is kept and the change reported.
        """
        if not (self._is_relax() and self.ctx.task['relax_cell'] and node.is_finished_ok):
            return None
        if 'structure' not in node.outputs:
            return None
        start, end = node.inputs.structure.get_cell_volume(), node.outputs.structure.get_cell_volume()
        if not needs_basis_refresh(start, end):
            return None
        change = f'the volume changed by {100 * volume_change(start, end):+.2f} % in the last calculation'
        if self.ctx.iteration >= self.inputs.max_iterations.value:
            self.report(f'WARNING: {change} and `max_iterations` is reached: the stress carries a Pulay error')
            return None
        self._continue_from(node)
        self._prepare_inputs()
        return self._restart(node, f'converged, but {change}: relaxing once more from the final cell (Pulay stress)')

    @process_handler(priority=10)
    def handle_unknown_failure(self, node):
        """A failure no other handler took: once more, then 320."""
        if not node.is_failed:
            return None
        return self._retry_once(node, 'an unexpected failure')

    # ------------------------------------------------------------------------------------------------ results

    def results(self):
        """The task's outputs in the interface's units, through ``vasp_task_outputs``."""
        node = self.ctx.children[self.ctx.iteration - 1]
        task = self.ctx.task['task']
        misc = node.outputs.misc
        if misc.get('forces') is None or misc.get('total_energies') is None:
            return self.exit_codes.ERROR_OUTPUT_MISSING.format(quantity='the forces and the energy (vasprun.xml)')
        optional = {}
        if task == 'dfpt':
            outputs = node.outputs
            if (
                'born_charges' not in outputs
                or 'dielectrics' not in outputs
                or 'epsilon' not in outputs.dielectrics.get_arraynames()
            ):
                return self.exit_codes.ERROR_OUTPUT_MISSING.format(
                    quantity='the Born charges and ε∞ (vasprun.xml `born_charges` and `epsilon`; LEPSILON ran?)'
                )
            optional = {'born_charges': outputs.born_charges, 'dielectrics': outputs.dielectrics}
        if task == 'elastic':
            moduli = misc.get('elastic_moduli') or {}
            if moduli.get('total') is None:
                return self.exit_codes.ERROR_OUTPUT_MISSING.format(
                    quantity='the relaxed-ion elastic moduli (OUTCAR "TOTAL ELASTIC MODULI"; IBRION = 6 with ISIF = 3 '
                    'ran?)'
                )
            if 'trajectory' not in node.outputs:
                return self.exit_codes.ERROR_OUTPUT_MISSING.format(
                    quantity="the undistorted cell's energy, forces and stress (vasprun.xml's configurations)"
                )
            optional['trajectory'] = node.outputs.trajectory
        if task == 'static' and 'bands' in node.outputs:
            optional['bands'] = node.outputs.bands
        missing_bands = task == 'static' and 'bands' not in node.outputs
        summary = {
            'engine': 'vasp',
            'task': task,
            'parameters': self.ctx.task,
            'jobs': self.ctx.iteration,
            'kpoints_mesh': self.ctx.kpoints_mesh,
            'kpoints_spacing_per_A': self.ctx.kpoints_spacing,
            'charge': self.ctx.charge,
            'nelect': self.ctx.nelect,
            'potential_family': self.inputs.vasp.potential_family.value,
            'potential_mapping': self.inputs.vasp.potential_mapping.get_dict(),
            'incar': node.inputs.parameters.get_dict(),
        }
        if missing_bands:
            summary['band_gap_missing'] = 'aiida-vasp parsed no eigenvalues and occupations (no `bands` output)'
        run_status = misc.get('run_status') or {}
        if self._is_relax() and run_status.get('contains_nelm_breach'):
            summary['warning'] = 'some ionic steps of the last calculation stopped their self-consistency at NELM'
            self.report(f'WARNING: {summary["warning"]}')
        outputs = vasp_task_outputs(misc, orm.Dict(summary), **optional, metadata={'call_link_label': 'task_outputs'})
        self.out_many(outputs)
        if self._is_relax():
            self._continue_from(node)
            self.out('structure', self.ctx.structure)
        else:
            self.out('structure', self.inputs.structure)
        reported = outputs['output_parameters'].get_dict()
        line = (
            f'{task} done in {self.ctx.iteration} calculation(s): E = {reported["energy_eV"]:.6f} eV, largest force '
            f'{reported["max_force_eV_A"]:.4g} eV/Å'
        )
        if 'pressure_GPa' in reported:
            line += f', pressure {reported["pressure_GPa"]:.4g} GPa'
        if 'band_gap' in outputs:
            line += f', band gap {outputs["band_gap"].value:.4g} eV' + (' (metal)' if reported['is_metal'] else '')
        elif task == 'static':
            line += f'; no band gap: {reported["band_gap_missing"]}'
        if 'elastic_tensor' in outputs:
            tensor = outputs['elastic_tensor'].get_array('elastic_tensor_GPa')
            bulk = tensor[:3, :3].sum() / 9.0
            line += f', relaxed-ion C11 {tensor[0, 0]:.4g} GPa, Voigt bulk modulus {bulk:.4g} GPa'
        self.report(line)
        return None
