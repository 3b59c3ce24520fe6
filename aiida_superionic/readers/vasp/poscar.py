"""The POSCAR / CONTCAR reader: the cell, the positions and, after an MD step, the velocities."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..trajectory import TrajectoryFileError
from .files import _read_text, _source_name
from .parsing import _element, _line_numbers, _per_atom
from .xdatcar import _parse_xdatcar_header

# --------------------------------------------------------------------------------------------------- POSCAR / CONTCAR


@dataclasses.dataclass
class PoscarState:
    """The cell, positions and (when the file has them) velocities of a POSCAR or CONTCAR.

    ``cell`` is ``(3, 3)`` Å with the lattice vectors as rows (scale factor applied), ``positions`` Cartesian
    Å, ``velocities`` Cartesian Å/fs (VASP's unit) or None. ``species`` are the names of the species line as
    written (None in the VASP 4 layout), ``counts`` the atoms of each.
    """

    species: list[str] | None
    counts: list[int]
    cell: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def symbols(self) -> list[str] | None:
        """The element of each atom, from the species line; None when the file has none."""
        if self.species is None:
            return None
        return _per_atom([_element(name) for name in self.species], self.counts)


def _poscar_rows(lines: list[str], first: int, rows: int) -> np.ndarray | None:
    """The first three numbers of ``rows`` lines from ``first``; None if a line is missing or malformed."""
    if first + rows > len(lines):
        return None
    values = []
    for line in lines[first : first + rows]:
        numbers = _line_numbers(' '.join(line.split()[:3]))
        if numbers is None:
            return None
        values.append(numbers)
    return np.array(values, dtype=float).reshape(rows, 3)


def read_poscar(source, timestep_fs: float | None = None) -> PoscarState:
    """Read a POSCAR or CONTCAR, with the velocity block of an MD run when there is one.

    After an MD step VASP writes CONTCAR with Cartesian velocities in Å/fs after a blank line (then the
    predictor-corrector block, not read here). A velocity block introduced by a line starting with ``C`` or
    ``K`` is Cartesian (Å/fs) too; one introduced by ``D`` is in direct coordinates per time step and needs
    ``timestep_fs``. An incomplete velocity block (a file cut while written) gives no velocities, with a warning.

    :param source: a path, or an open binary file; plain, gzip, bzip2 or xz.
    :param timestep_fs: POTIM (fs), only needed for velocities in direct coordinates.
    :raises TrajectoryFileError: for a malformed header or incomplete positions.
    """
    name = _source_name(source) or 'the POSCAR'
    lines = _read_text(source).splitlines()
    header = _parse_xdatcar_header([line.encode() for line in lines[:7]], name, 1)
    atoms = sum(header.counts)
    index = header.lines
    if index < len(lines) and lines[index].strip()[:1] in ('S', 's'):
        index += 1  # selective dynamics: the flags after the coordinates are not read
    if index >= len(lines):
        raise TrajectoryFileError(f'{name}: no coordinate-mode line (Direct or Cartesian) after the header')
    cartesian = lines[index].strip()[:1] in ('C', 'c', 'K', 'k')
    coordinates = _poscar_rows(lines, index + 1, atoms)
    if coordinates is None:
        raise TrajectoryFileError(f'{name}: expected {atoms} lines of coordinates from line {index + 2}')
    if cartesian:
        # Cartesian coordinates are scaled like the lattice: by the scale factor(s) of line 2.
        lattice = np.array([_line_numbers(line) for line in lines[2:5]], dtype=float)
        scale = np.linalg.norm(header.cell, axis=1) / np.linalg.norm(lattice, axis=1)
        positions = coordinates * (scale if len(lines[1].split()) == 3 else scale[0])
    else:
        positions = coordinates @ header.cell
    warnings = []
    velocities = None
    mode_line = index + 1 + atoms
    if mode_line < len(lines) and any(line.strip() for line in lines[mode_line:]):
        mode = lines[mode_line].strip()[:1]
        block = _poscar_rows(lines, mode_line + 1, atoms)
        if mode in ('L', 'l'):
            warnings.append(f'{name}: lattice velocities (a variable-cell MD) are not read; no velocities')
        elif block is None:
            warnings.append(
                f'{name}: the velocity block after line {mode_line + 1} is incomplete (the file was probably cut '
                'while written); no velocities'
            )
        elif mode in ('D', 'd'):
            if timestep_fs is None:
                raise TrajectoryFileError(f'{name}: velocities in direct coordinates need the time step (POTIM)')
            velocities = block @ header.cell / float(timestep_fs)
        else:
            velocities = block
    return PoscarState(
        species=header.species,
        counts=header.counts,
        cell=header.cell,
        positions=positions,
        velocities=velocities,
        warnings=warnings,
    )
