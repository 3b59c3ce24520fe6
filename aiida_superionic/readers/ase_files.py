"""Read an MD trajectory that ASE can read (extended XYZ, ASE ``.traj``, ...) into a :class:`ParsedTrajectory`.

Units in: whatever ASE reports (Å, ASE velocity units). Units out: Cartesian Å, Å/ps, ps. Most of
these formats do not carry the time between frames, so it is asked for. Frames are read one at a
time (``ase.io.iread``) and stacked at the end: the peak memory is about twice the positions array.
"""

from __future__ import annotations

import pathlib

import numpy as np
from ase import units
from ase.io import iread

from .trajectory import ParsedTrajectory, TrajectoryFileError

#: ASE's velocity unit is Å per (Å √(u/eV)); this factor turns it into Å/ps.
ASE_VELOCITY_TO_A_PER_PS = 1000.0 * units.fs


def read_ase_trajectory(
    path: str | pathlib.Path, frame_interval_fs: float, file_format: str | None = None
) -> ParsedTrajectory:
    """Return every frame of ``path``; ``frame_interval_fs`` is the MD time between two stored frames (fs).

    Velocities are kept when every frame has them (momenta in the file). Every frame must have
    the same species in the same order and a periodic cell.
    """
    path = pathlib.Path(path)
    if frame_interval_fs is None or not frame_interval_fs > 0:
        raise TrajectoryFileError(
            f'{path.name}: the time between frames is not stored in this format; give it (frame interval in fs)'
        )
    symbols: list[str] | None = None
    positions, cells, velocities = [], [], []
    try:
        for index, atoms in enumerate(iread(path, index=':', format=file_format)):
            frame_symbols = atoms.get_chemical_symbols()
            if symbols is None:
                symbols = frame_symbols
                if not all(atoms.pbc):
                    raise TrajectoryFileError(f'{path.name}: frame 0 is not periodic in all three directions')
            elif frame_symbols != symbols:
                raise TrajectoryFileError(
                    f'{path.name}: frame {index} has {len(frame_symbols)} atoms ({atoms.get_chemical_formula()}), '
                    f'frame 0 has {len(symbols)}; every frame must hold the same atoms in the same order'
                )
            positions.append(atoms.get_positions())
            cells.append(np.asarray(atoms.get_cell()))
            velocities.append(atoms.get_velocities() if 'momenta' in atoms.arrays else None)
    except TrajectoryFileError:
        raise
    except Exception as exception:  # ASE raises many types for a file it cannot read
        raise TrajectoryFileError(
            f'{path.name}: ASE cannot read it as {file_format or "any known format"}: {exception}'
        ) from exception
    if not positions:
        raise TrajectoryFileError(f'{path.name}: no frames')
    frames = len(positions)
    has_velocities = all(v is not None for v in velocities)
    steps = np.arange(frames)
    return ParsedTrajectory(
        symbols=symbols,
        positions=np.stack(positions),
        cells=np.stack(cells),
        times_ps=steps * frame_interval_fs / 1000.0,
        steps=steps,
        velocities=np.stack(velocities) * ASE_VELOCITY_TO_A_PER_PS if has_velocities else None,
        parameters={'frame_interval_fs': float(frame_interval_fs)},
        sources=[path.name],
    )
