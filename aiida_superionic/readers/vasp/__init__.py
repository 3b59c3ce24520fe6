"""Streaming readers of VASP molecular-dynamics output: XDATCAR, vasprun.xml, and the MD tags of INCAR and OUTCAR.

Units: positions and cells in Å (lattice vectors as rows, XDATCAR's scale factor applied), the time step
(POTIM) in fs, times in ps, temperatures (TEBEG, TEEND) in K. Positions are Cartesian, each frame's
fractional coordinates times its cell, so wrapped into the cell as VASP wrote them.

Pure numerics (no AiiDA). Every reader takes a path or an already-open binary file (e.g. one from an AiiDA
repository), plain or compressed with gzip, bzip2 or xz, recognised by its first bytes.

How the trajectories are read. The file is read in chunks of about ``CHUNK_BYTES`` cut at frame
boundaries; the coordinates of all the frames of a chunk are parsed in one call of pandas' C parser, made
Cartesian with one matrix product and written into the output array. A plain file's size tells how many
frames to expect, so the output is allocated once and the peak memory is the positions plus the
temporaries of one chunk; for a compressed file or a stream the chunks' arrays are joined at the end (twice
the positions at the peak). Nothing holds the whole text, no DOM is built (vasprun.xml is cut with
``bytes.find``).

What the numbers mean (learnt from VASP's ``main.F`` and real files):

* XDATCAR: VASP writes ``Direct configuration=`` followed by the ionic step number NSTEP, every NBLOCK
  steps (NBLOCK, 2·NBLOCK, ...). Programs that rewrite XDATCARs (pymatgen's ``Xdatcar.write_file``,
  concatenation scripts) renumber the frames 1, 2, 3, ...: the kinisi example (2 fs × NBLOCK 50) is such a
  file. :func:`read_xdatcar` takes the numbers as ionic steps when they step by NBLOCK, and as frame counts
  (step = number × NBLOCK, with a warning) when they step by 1 with NBLOCK > 1. The 7-line header repeats
  before every configuration when the cell varies (ISIF ≥ 3).
* vasprun.xml has one ``<calculation>`` per ionic step whatever NBLOCK (only ML_OUTBLOCK thins it, from
  VASP 6.4.3 on), holding the structure at which that step's forces were computed: step ``k`` of the file
  is ionic step ``k``.

In both, ``times_ps = steps × POTIM / 1000``.
"""

from .files import open_binary
from .parsing import CHUNK_BYTES
from .poscar import PoscarState, read_poscar
from .tags import OUTCAR_HEADER_MAX_BYTES, OUTCAR_TAGS, read_incar, read_outcar_parameters
from .vasprun import VASPRUN_MD_ENERGIES, VASPRUN_TAGS, VasprunEnergies, read_vasprun, read_vasprun_energies
from .xdatcar import XDATCAR_HEADER_MAX_BYTES, read_xdatcar

__all__ = [
    'CHUNK_BYTES',
    'OUTCAR_HEADER_MAX_BYTES',
    'OUTCAR_TAGS',
    'VASPRUN_MD_ENERGIES',
    'VASPRUN_TAGS',
    'XDATCAR_HEADER_MAX_BYTES',
    'PoscarState',
    'VasprunEnergies',
    'open_binary',
    'read_incar',
    'read_outcar_parameters',
    'read_poscar',
    'read_vasprun',
    'read_vasprun_energies',
    'read_xdatcar',
]
