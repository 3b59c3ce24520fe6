"""What every reader returns: one MD run as time-contiguous arrays, in the plugin's units.

No AiiDA here (the readers sit in the numerics layer): the calcfunction
``superionic.import_trajectory`` turns a :class:`ParsedTrajectory` into a ``TrajectoryData``.
"""

from __future__ import annotations

import dataclasses

import numpy as np


class TrajectoryFileError(ValueError):
    """A trajectory file or run folder that cannot be read as asked; the message names the file and the problem."""


@dataclasses.dataclass
class ParsedTrajectory:
    """One MD run (or one segment of it) read from files.

    Arrays are float64 and time-contiguous: ``positions`` is ``(frames, atoms, 3)`` Cartesian Å
    (as the code wrote them, usually wrapped into the cell), ``cells`` is ``(frames, 3, 3)`` Å
    with the lattice vectors as rows, ``times_ps`` is ``(frames,)`` ps, ``steps`` the MD step
    index of each frame. ``velocities`` (Å/ps) only when the file has them.
    """

    symbols: list[str]
    positions: np.ndarray
    cells: np.ndarray
    times_ps: np.ndarray
    steps: np.ndarray
    velocities: np.ndarray | None = None
    #: MD parameters read from the run (time step in fs, NBLOCK, TEBEG in K, MDALGO, ...).
    parameters: dict = dataclasses.field(default_factory=dict)
    #: Things the user should know (a truncated last frame that was dropped, ...), one sentence each.
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: Names of the files the arrays came from, in the order read.
    sources: list[str] = dataclasses.field(default_factory=list)

    @property
    def frames(self) -> int:
        return self.positions.shape[0]
