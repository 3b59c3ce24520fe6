"""Benchmark of the VASP trajectory readers against pymatgen and ASE (issue 5).

One command (see ``benchmarks/README.md``)::

    python benchmarks/parsing.py [--frames 10000 --atoms 256 --vasprun-frames 2000]

writes seeded synthetic files to a temporary folder with the writers of ``tests/vasp_files.py`` (VASP's
own layout and number formats) and measures, in this process on the same files:

* **XDATCAR** (``--frames`` × ``--atoms``, fixed cell): our ``read_xdatcar`` (best of ``--repeats``)
  against pymatgen's ``Xdatcar`` (once, it is slow); the ratio of the times; the largest difference
  of the Cartesian positions and cells between the two parses (asserted ≤ 1e-10 Å). Then ours alone on
  the same file gzipped (read as a stream of unknown length).
* **vasprun.xml** (``--vasprun-frames`` × ``--atoms``): our ``read_vasprun`` against ASE's
  ``read(path, index=':', format='vasp-xml')`` and pymatgen's ``Vasprun`` (structures only: no DOS,
  eigenvalues or POTCAR), the same printouts.

**Memory.** For ours, the ``tracemalloc`` peak of one call in this process (numpy reports its arrays to
tracemalloc; pandas' C parser buffers are not seen). For a like-for-like comparison with the peers, whose
millions of small Python objects tracemalloc would slow down many times, every reader is also run once
in a fresh subprocess that prints the growth of its peak resident set (``VmHWM``, reset before the call
through ``/proc/self/clear_refs`` where allowed) over its resident set before the call. Memory is given
as a multiple of the output positions array ``(frames, atoms, 3)`` float64.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'tests'))

from vasp_files import random_md_frames, write_vasprun, write_xdatcar

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import footer, header, target

from aiida_superionic.readers.vasp import CHUNK_BYTES, read_vasprun, read_xdatcar

TIMESTEP_FS = 2.0
NBLOCK = 1
#: A slightly triclinic cell of a 256-atom argyrodite-like supercell (Å, rows), as the real ones are.
CELL = np.array([[20.3123, 0.0002, -0.0001], [0.0002, 20.3123, -0.0000], [-0.0001, -0.0000, 20.3124]])
TOLERANCE_A = 1e-10
#: Targets of issue 5: at least this many times faster than pymatgen's Xdatcar; peak memory at most this many
#: positions arrays.
SPEED_UP_TARGET = 20.0
MEMORY_TARGET = 3.0
#: Runs shorter than this have no memory target: the per-chunk buffers (12-25 MiB) outweigh their positions.
MEMORY_TARGET_FRAMES = 2_000


def species_counts(atoms: int) -> tuple[list[str], list[int]]:
    """Li6PS5Cl-like proportions: a quarter Li, an eighth P, an eighth Cl, the rest S."""
    lithium, phosphorus, chlorine = atoms // 4, atoms // 8, atoms // 8
    return ['Li', 'P', 'S', 'Cl'], [lithium, phosphorus, atoms - lithium - phosphorus - chlorine, chlorine]


# ------------------------------------------------------------------------------------------------- readers
# Each returns (positions, cells) as float64 arrays, so that every reader is measured up to the same result.


def ours_xdatcar(path: str):
    trajectory = read_xdatcar(path, TIMESTEP_FS, NBLOCK)
    return trajectory.positions, trajectory.cells


def pymatgen_xdatcar(path: str):
    from pymatgen.io.vasp.outputs import Xdatcar

    structures = Xdatcar(path).structures
    return np.array([s.cart_coords for s in structures]), np.array([s.lattice.matrix for s in structures])


def ours_vasprun(path: str):
    trajectory = read_vasprun(path)
    return trajectory.positions, trajectory.cells


def ase_vasprun(path: str):
    from ase.io import read

    images = read(path, index=':', format='vasp-xml')
    return np.array([atoms.positions for atoms in images]), np.array([atoms.cell[:] for atoms in images])


def pymatgen_vasprun(path: str):
    from pymatgen.io.vasp.outputs import Vasprun

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        run = Vasprun(path, parse_dos=False, parse_eigen=False, parse_projected_eigen=False, parse_potcar_file=False)
    structures = run.structures
    return np.array([s.cart_coords for s in structures]), np.array([s.lattice.matrix for s in structures])


READERS = {
    'ours_xdatcar': ours_xdatcar,
    'pymatgen_xdatcar': pymatgen_xdatcar,
    'ours_vasprun': ours_vasprun,
    'ase_vasprun': ase_vasprun,
    'pymatgen_vasprun': pymatgen_vasprun,
}


# ------------------------------------------------------------------------------------------------- measuring


def best_time(function, repeats: int):
    """Best wall time of ``repeats`` calls, and the last result."""
    best, result = float('inf'), None
    for _ in range(repeats):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def tracemalloc_peak(function) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _status(field: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{field} not in /proc/self/status')


def rss_child(reader: str, path: str) -> None:
    """Run one reader in this fresh process; print the growth of the peak resident set during the call (bytes)."""
    function = READERS[reader]
    if reader.startswith('ours'):
        import pandas  # noqa: F401  (imported by our reader: not part of what the call allocates)
    gc.collect()
    before = _status('VmRSS:')
    try:
        with open('/proc/self/clear_refs', 'w') as clear:
            clear.write('5')  # resets VmHWM to the current resident set
    except OSError:
        pass
    function(path)
    print(_status('VmHWM:') - before)


def rss_growth(reader: str, path: str) -> int | None:
    """The peak-RSS growth (bytes) of ``reader`` on ``path`` in a fresh subprocess, None if it failed."""
    completed = subprocess.run(
        [sys.executable, __file__, '--rss-child', reader, path], check=False, capture_output=True, text=True
    )
    if completed.returncode != 0:
        print(f'    ({reader} failed in the subprocess: {completed.stderr.strip().splitlines()[-1:]})')
        return None
    return int(completed.stdout.split()[-1])


def max_difference(ours, theirs) -> tuple[float, float]:
    positions, cells = ours
    their_positions, their_cells = theirs
    if their_positions.shape != positions.shape:
        raise AssertionError(f'shapes differ: ours {positions.shape}, theirs {their_positions.shape}')
    return float(np.abs(positions - their_positions).max()), float(np.abs(cells - their_cells).max())


def compare(title: str, path: str, ours: str, peers: list[str], repeats: int, rss: bool) -> None:
    size_MB = os.path.getsize(path) / 1e6
    ours_seconds, ours_result = best_time(lambda: READERS[ours](path), repeats)
    positions_bytes = ours_result[0].nbytes
    frames, atoms, _ = ours_result[0].shape
    peak = tracemalloc_peak(lambda: READERS[ours](path))
    print(
        f'{title}: {frames} frames x {atoms} atoms, {size_MB:.1f} MB; positions array {positions_bytes / 2**20:.1f} MiB'
    )
    print(
        f'  {"ours":17s} {ours_seconds:8.3f} s (best of {repeats}, {size_MB / ours_seconds:.0f} MB/s)  '
        f'tracemalloc peak {peak / positions_bytes:.2f}x positions'
    )
    growth = {}
    for peer in peers:
        try:
            peer_seconds, peer_result = best_time(lambda peer=peer: READERS[peer](path), 1)
        except Exception as exception:  # a peer that cannot read the file is reported, not fatal
            print(f'  {peer:17s} cannot read it: {type(exception).__name__}: {exception}')
            continue
        position_error, cell_error = max_difference(ours_result, peer_result)
        print(
            f'  {peer:17s} {peer_seconds:8.3f} s (once)  ours is {peer_seconds / ours_seconds:.1f}x faster; '
            f'max |dposition| {position_error:.1e} A, max |dcell| {cell_error:.1e} A'
        )
        if peer == 'pymatgen_xdatcar':
            target("speed-up over pymatgen's Xdatcar", peer_seconds / ours_seconds, SPEED_UP_TARGET, 'x', at_least=True)
        target(f"positions equal to {peer}'s, max |dposition|", position_error, TOLERANCE_A, ' A')
        assert position_error <= TOLERANCE_A, f'{peer} positions differ by {position_error} A'
        assert cell_error <= TOLERANCE_A, f'{peer} cells differ by {cell_error} A'
        peer_result = None
        if rss:
            growth[peer] = rss_growth(peer, path)
    if rss:
        growth[ours] = rss_growth(ours, path)
        print('  peak-RSS growth of a fresh process during the call:')
        for name, value in growth.items():
            if value is not None:
                print(f'    {name:18s} {value / 2**20:9.1f} MiB = {value / positions_bytes:6.2f}x positions')
        if growth[ours] is not None and frames >= MEMORY_TARGET_FRAMES:
            target('our peak-RSS growth / positions', growth[ours] / positions_bytes, MEMORY_TARGET, 'x')
    elif frames >= MEMORY_TARGET_FRAMES:
        target('our tracemalloc peak / positions', peak / positions_bytes, MEMORY_TARGET, 'x')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=10_000, help='XDATCAR frames')
    parser.add_argument('--atoms', type=int, default=256)
    parser.add_argument('--vasprun-frames', type=int, default=2_000)
    parser.add_argument('--repeats', type=int, default=3, help='timing runs of ours (the best is kept)')
    parser.add_argument('--no-peers', action='store_true', help='time ours only')
    parser.add_argument('--no-rss', action='store_true', help='skip the fresh-subprocess memory measurements')
    parser.add_argument('--rss-child', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return

    import pandas
    import pymatgen.core

    header(f'parsing, XDATCAR {args.frames} x {args.atoms}, vasprun.xml {args.vasprun_frames} x {args.atoms}')

    print(
        f'machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; numpy {np.__version__}, pandas '
        f'{pandas.__version__}, pymatgen {pymatgen.core.__version__}; chunks of {CHUNK_BYTES / 2**20:g} MiB'
    )
    species, counts = species_counts(args.atoms)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        fractional = random_md_frames(args.frames, counts, seed=5)
        xdatcar = str(write_xdatcar(pathlib.Path(folder) / 'XDATCAR', fractional, CELL, species, counts, nblock=NBLOCK))
        fractional = None
        print(
            f'wrote a seeded XDATCAR ({"/".join(f"{s}{c}" for s, c in zip(species, counts, strict=True))}) '
            f'in {time.perf_counter() - start:.1f} s'
        )
        compare(
            'XDATCAR',
            xdatcar,
            'ours_xdatcar',
            [] if args.no_peers else ['pymatgen_xdatcar'],
            args.repeats,
            not args.no_rss,
        )
        # The same file gzipped: its size does not tell the frames in advance, so the chunks are joined at the end.
        with open(xdatcar, 'rb') as plain, gzip.open(xdatcar + '.gz', 'wb', compresslevel=1) as packed:
            shutil.copyfileobj(plain, packed)
        os.remove(xdatcar)
        compare('XDATCAR.gz (the same, compressed)', xdatcar + '.gz', 'ours_xdatcar', [], args.repeats, not args.no_rss)
        os.remove(xdatcar + '.gz')

        start = time.perf_counter()
        fractional = random_md_frames(args.vasprun_frames, counts, seed=6)
        vasprun = str(
            write_vasprun(pathlib.Path(folder) / 'vasprun.xml', fractional, CELL, species, counts, potim=TIMESTEP_FS)
        )
        fractional = None
        print(f'wrote a seeded vasprun.xml in {time.perf_counter() - start:.1f} s')
        peers = [] if args.no_peers else ['ase_vasprun', 'pymatgen_vasprun']
        compare('vasprun.xml', vasprun, 'ours_vasprun', peers, args.repeats, not args.no_rss)
    footer('parsing')


if __name__ == '__main__':
    main()
