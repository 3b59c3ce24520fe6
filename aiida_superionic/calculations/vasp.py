"""``VaspMdCalculation``: aiida-vasp's ``VaspCalculation`` that starts an MD from given velocities and keeps XDATCAR.

Why a subclass exists at all. aiida-vasp writes POSCAR from a ``StructureData``, which has no velocities,
so every job it starts draws new velocities at TEBEG; and its own restart of an unfinished ionic run
restarts an MD as if it were a relaxation, from the last structure, losing the velocities and the step count.
A continuation of an MD needs the velocities of the state it continues, in POSCAR's velocity block. So this
class adds one optional input, ``velocities``, writes it after the positions (Cartesian, VASP's Å/fs), and
also retrieves XDATCAR, the recorded frames (aiida-vasp does not by default). Everything else, the other
input files, the parser (``vasp.vasp``) and its exit codes, is ``VaspCalculation``'s.
"""

from __future__ import annotations

from aiida import orm
from aiida_vasp.calcs.vasp import VaspCalculation

from ..common.trajectory import VELOCITIES_ARRAY, validate_velocities

#: Å/ps (the plugin's velocity unit) to Å/fs (the unit of POSCAR's Cartesian velocity block).
ANGSTROM_PER_PS_IN_ANGSTROM_PER_FS = 1.0e-3


def validate_inputs(inputs, ctx) -> str | None:
    """``VaspCalculation``'s checks, then one velocity per site of the structure."""
    message = VaspCalculation.spec().inputs.validator(inputs, ctx)
    if message:
        return message
    velocities = inputs.get('velocities')
    structure = inputs.get('structure')
    if velocities is not None and structure is not None and VELOCITIES_ARRAY in velocities.get_arraynames():
        atoms = len(structure.sites) if isinstance(structure, orm.StructureData) else len(structure.get_ase())
        shape = velocities.get_shape(VELOCITIES_ARRAY)
        if shape[0] != atoms:
            return f'`velocities` has {shape[0]} rows but the structure has {atoms} sites'
    return None


class VaspMdCalculation(VaspCalculation):
    """A VASP MD job whose POSCAR carries the start velocities, and which retrieves XDATCAR and CONTCAR.

    ``velocities`` (Å/ps, one row per site in the order of the structure) become POSCAR's velocity block in
    Å/fs. Without it, VASP draws the velocities at TEBEG itself. The INCAR is the caller's (``parameters``);
    ``VaspMdSegmentWorkChain`` builds it.
    """

    # CONTCAR (the last state, with its velocities) is in aiida-vasp's list already; XDATCAR is the trajectory.
    _ALWAYS_RETRIEVE_LIST = [*VaspCalculation._ALWAYS_RETRIEVE_LIST, 'XDATCAR']

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'velocities',
            valid_type=orm.ArrayData,
            required=False,
            validator=validate_velocities,
            help='Start velocities: an array named `velocities`, (atoms, 3), Cartesian Å/ps, in the order of the '
            'sites of `structure`; written to POSCAR in Å/fs. Absent: VASP draws them at TEBEG.',
        )
        spec.inputs.validator = validate_inputs

    def write_poscar(self, dst: str) -> None:
        """Write POSCAR as ``VaspCalculation`` does, then the velocity block when ``velocities`` is given.

        The block is introduced by a ``Cartesian`` line (VASP reads a line starting with C as Cartesian
        velocities in Å/fs) and follows the positions directly, in the order of the sites (aiida-vasp keeps
        that order in POSCAR).
        """
        super().write_poscar(dst)
        if 'velocities' not in self.inputs:
            return
        velocities = self.inputs.velocities.get_array(VELOCITIES_ARRAY) * ANGSTROM_PER_PS_IN_ANGSTROM_PER_FS
        with open(dst, encoding='utf-8') as handle:
            text = handle.read().rstrip()
        rows = ''.join(f'  {vx: .15e}  {vy: .15e}  {vz: .15e}\n' for vx, vy, vz in velocities)
        with open(dst, 'w', encoding='utf-8') as handle:
            handle.write(f'{text}\nCartesian\n{rows}')
