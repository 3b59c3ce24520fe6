"""Writers of synthetic VASP MD files for the tests and benchmarks: XDATCAR, vasprun.xml, INCAR, OUTCAR header.

The layout and number formats follow what VASP 5.4/6.x writes (learnt from VASP's ``main.F`` and real
files, none copied here):

* XDATCAR: the comment line, the scale factor as ``           1``, the lattice vectors as ``(1X,3F12.6)``,
  the species right-aligned, the counts ``(I6)``, then per frame ``Direct configuration=`` and the ionic
  step ``(A,I6)`` and the fractional coordinates ``(1X,3F12.8)``; the header repeats before every
  configuration when the cell varies (ISIF ≥ 3). VASP numbers the configurations by ionic step:
  NBLOCK, 2·NBLOCK, ...
* vasprun.xml: ``<generator>``, ``<incar>``, ``<kpoints>``, ``<parameters>``, ``<atominfo>``, the
  ``initialpos`` structure, one ``<calculation>`` per ionic step (SCF steps, ``<structure>`` with the
  basis and fractional positions, forces, stress, energies), the ``finalpos`` structure; realistic enough
  that ``ase.io.read(path, index=':', format='vasp-xml')`` reads it.

All coordinates are fractional, cells are ``(3, 3)`` Å with the lattice vectors as rows. Every writer
returns the path it wrote; ``compression`` (``'gzip'``, ``'bz2'``, ``'xz'`` or None) compresses the file
(the name is not changed: the readers recognise compression by content).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import pathlib

import numpy as np

#: The compressors of ``compression=``.
COMPRESSORS = {None: lambda data: data, 'gzip': gzip.compress, 'bz2': bz2.compress, 'xz': lzma.compress}


def write_bytes(path, data: bytes, compression: str | None = None) -> pathlib.Path:
    """Write ``data`` to ``path``, compressed with ``compression`` (None, 'gzip', 'bz2' or 'xz')."""
    path = pathlib.Path(path)
    path.write_bytes(COMPRESSORS[compression](data))
    return path


def random_md_frames(
    frames: int, counts: list[int], seed: int = 0, step_A: float = 0.05, cell_A: float = 10.0, start=None
) -> np.ndarray:
    """Fractional coordinates ``(frames, atoms, 3)`` of atoms on a random walk, wrapped into [0, 1) as VASP writes them.

    Each atom starts at a random place (or one step from ``start``, fractional, to continue a run) and moves by
    Gaussian steps of ``step_A`` Å (in a cubic cell of ``cell_A`` Å); seeded, so the files are the same from run to
    run.
    """
    rng = np.random.default_rng(seed)
    atoms = sum(counts)
    walk = rng.normal(0.0, step_A / cell_A, (frames, atoms, 3))
    if start is None:
        walk[0] = rng.uniform(0.0, 1.0, (atoms, 3))
    else:
        walk[0] += start
    return np.cumsum(walk, axis=0) % 1.0


def breathing_cells(frames: int, cell: np.ndarray, amplitude: float = 0.02, seed: int = 1) -> np.ndarray:
    """Cells ``(frames, 3, 3)`` of an NpT-like run: ``cell`` strained by a small random symmetric strain per frame."""
    rng = np.random.default_rng(seed)
    strain = rng.normal(0.0, amplitude, (frames, 3, 3))
    strain = 0.5 * (strain + strain.transpose(0, 2, 1))
    return np.einsum('fij,jk->fik', np.eye(3) + strain, np.asarray(cell, dtype=float))


def _header_lines(title: str, cell: np.ndarray, species: list[str] | None, counts: list[int], scale: float) -> str:
    if scale < 0:
        # VASP reads a negative scale as the volume: write the lattice of unit volume, and the volume.
        volume = abs(np.linalg.det(cell))
        lattice = cell / volume ** (1.0 / 3.0)
        scale_line = f'{-volume:19.10f}'
    else:
        lattice = cell / scale
        scale_line = f'{scale:12.0f}' if scale == 1.0 else f'{scale:19.14f}'
    lines = [title, scale_line]
    lines += [' ' + ''.join(f'{value:12.6f}' for value in row) for row in lattice]
    if species is not None:
        lines.append(''.join(f'   {name:<2}' for name in species))
    lines.append(''.join(f'{count:6d}' for count in counts))
    return '\n'.join(lines) + '\n'


def xdatcar_text(
    fractional: np.ndarray,
    cells: np.ndarray,
    species: list[str],
    counts: list[int],
    *,
    title: str = 'unknown system',
    nblock: int = 1,
    numbers: list[int] | None = None,
    species_line: bool = True,
    scale: float = 1.0,
) -> str:
    """The text of an XDATCAR as VASP writes it.

    :param fractional: ``(frames, atoms, 3)`` fractional coordinates, rounded to 8 decimals as VASP does.
    :param cells: ``(3, 3)`` for a fixed cell (one header), or ``(frames, 3, 3)`` for a variable cell (the
        header repeated before every configuration, with that frame's cell).
    :param nblock: the configuration numbers are NBLOCK, 2·NBLOCK, ... (VASP's ionic steps) ...
    :param numbers: ... unless given (e.g. 1, 2, 3, ... as pymatgen rewrites them).
    :param species_line: False for the VASP 4 layout, without the species names.
    :param scale: the scale factor written (the lattice is divided by it); negative: the volume is written.
    """
    fractional = np.asarray(fractional, dtype=float)
    cells = np.asarray(cells, dtype=float)
    frames, atoms, _ = fractional.shape
    if atoms != sum(counts):
        raise ValueError(f'{atoms} atoms in the coordinates but the counts sum to {sum(counts)}')
    numbers = list(numbers) if numbers is not None else [nblock * (index + 1) for index in range(frames)]
    variable = cells.ndim == 3
    names = species if species_line else None
    parts = [] if variable else [_header_lines(title, cells, names, counts, scale)]
    row_format = ' %12.8f%12.8f%12.8f\n'
    frame_format = row_format * atoms
    for index in range(frames):
        if variable:
            parts.append(_header_lines(title, cells[index], names, counts, scale))
        parts.append(f'Direct configuration={numbers[index]:6d}\n')
        parts.append(frame_format % tuple(fractional[index].ravel()))
    return ''.join(parts)


def write_xdatcar(
    path, fractional, cells, species, counts, *, compression: str | None = None, **options
) -> pathlib.Path:
    """Write :func:`xdatcar_text` (same arguments) to ``path``, compressed with ``compression``."""
    text = xdatcar_text(fractional, cells, species, counts, **options)
    return write_bytes(path, text.encode(), compression)


def _varray(name: str, rows: np.ndarray, indent: str, value_format: str = '%16.8f') -> str:
    row_format = f'{indent} <v>' + (value_format * rows.shape[1]) + ' </v>\n'
    body = ''.join(row_format % tuple(row) for row in rows)
    return f'{indent}<varray name="{name}" >\n{body}{indent}</varray>\n'


def _structure(cell: np.ndarray, fractional: np.ndarray, indent: str, name: str | None = None) -> str:
    named = f' name="{name}" ' if name else ''
    volume = abs(np.linalg.det(cell))
    return (
        f'{indent}<structure{named}>\n'
        f'{indent} <crystal>\n'
        + _varray('basis', cell, indent + '  ')
        + f'{indent}  <i name="volume">{volume:16.8f} </i>\n'
        + _varray('rec_basis', np.linalg.inv(cell).T, indent + '  ')
        + f'{indent} </crystal>\n'
        + _varray('positions', fractional, indent + ' ')
        + f'{indent}</structure>\n'
    )


def _energy(indent: str, energy: float, md: bool = False) -> str:
    items = [('e_fr_energy', energy), ('e_wo_entrp', energy + 1e-5), ('e_0_energy', energy + 5e-6)]
    if md:
        items += [('kinetic', 16.2869), ('lattice kinetic', 0.0), ('nosepot', 0.0), ('nosekinetic', 0.0)]
        items += [('total', energy + 16.2869)]
    body = ''.join(f'{indent} <i name="{name}">{value:16.8f} </i>\n' for name, value in items)
    return f'{indent}<energy>\n{body}{indent}</energy>\n'


def vasprun_text(
    fractional: np.ndarray,
    cells: np.ndarray,
    species: list[str],
    counts: list[int],
    *,
    potim: float | None = 2.0,
    nblock: int = 1,
    tebeg: float = 600.0,
    ibrion: int = 0,
    isif: int = 2,
    mdalgo: int = 2,
    scf_steps: int = 2,
    version: str = '6.3.2',
    extra_incar: dict | None = None,
) -> str:
    """The text of an MD vasprun.xml, one ``<calculation>`` per frame.

    :param fractional: ``(frames, atoms, 3)`` fractional coordinates of each ionic step.
    :param cells: ``(3, 3)`` (fixed cell) or ``(frames, 3, 3)`` (variable cell, ISIF = 3) in Å.
    :param potim: the time step (fs) in ``<incar>`` and ``<parameters>``; None writes neither.
    :param extra_incar: more ``<incar>`` tags, ``{name: value}`` (int, float, bool or str).
    """
    fractional = np.asarray(fractional, dtype=float)
    cells = np.asarray(cells, dtype=float)
    frames, atoms, _ = fractional.shape
    cells = np.broadcast_to(cells, (frames, 3, 3)) if cells.ndim == 2 else cells
    rng = np.random.default_rng(7)

    def item(name, value, indent):
        if isinstance(value, bool):
            return f'{indent}<i type="logical" name="{name}"> {"T" if value else "F"}  </i>\n'
        if isinstance(value, int):
            return f'{indent}<i type="int" name="{name}">{value:6d}</i>\n'
        if isinstance(value, float):
            return f'{indent}<i name="{name}">{value:16.8f}</i>\n'
        return f'{indent}<i type="string" name="{name}">{value}</i>\n'

    incar = {'PREC': 'Normal', 'ALGO': 'Fast', 'IBRION': ibrion, 'NSW': frames, 'ISIF': isif}
    if potim is not None:
        incar['POTIM'] = float(potim)
    incar.update({'TEBEG': float(tebeg), 'SMASS': 0.0, 'NBLOCK': nblock, 'MDALGO': mdalgo, 'ISYM': 0})
    incar.update(extra_incar or {})
    out = ['<?xml version="1.0" encoding="ISO-8859-1"?>\n<modeling>\n <generator>\n']
    out += [
        '  <i name="program" type="string">vasp </i>\n',
        f'  <i name="version" type="string">{version}  </i>\n',
        '  <i name="subversion" type="string">synthetic (tests/vasp_files.py) </i>\n',
        '  <i name="platform" type="string">LinuxIFC </i>\n',
        '  <i name="date" type="string">2026 01 01 </i>\n',
        '  <i name="time" type="string">12:00:00 </i>\n',
        ' </generator>\n <incar>\n',
    ]
    out += [item(name, value, '  ') for name, value in incar.items()]
    out += [' </incar>\n <kpoints>\n  <generation param="Gamma">\n']
    out += ['   <v type="int" name="divisions">       1        1        1 </v>\n']
    out += ['   <v name="usershift">      0.00000000       0.00000000       0.00000000 </v>\n']
    out += ['  </generation>\n']
    out += [_varray('kpointlist', np.zeros((1, 3)), '  '), _varray('weights', np.ones((1, 1)), '  ')]
    out += [' </kpoints>\n <parameters>\n  <separator name="general" >\n']
    out += [item('SYSTEM', 'unknown system', '   '), '  </separator>\n  <separator name="electronic" >\n']
    electronic = {'PREC': 'normal', 'ENMAX': 400.0, 'EDIFF': 1e-5, 'NELECT': float(4 * atoms), 'ISPIN': 1}
    electronic.update({'NELM': 60, 'NELMIN': 2, 'ISMEAR': 0, 'SIGMA': 0.05})
    out += [item(name, value, '   ') for name, value in electronic.items()]
    out += ['  </separator>\n  <separator name="ionic" >\n']
    ionic = {'NSW': frames, 'IBRION': ibrion, 'MDALGO': mdalgo, 'ISIF': isif, 'PSTRESS': 0.0, 'EDIFFG': 0.001}
    if potim is not None:
        ionic['POTIM'] = float(potim)
    ionic.update({'SMASS': 0.0, 'SCALEE': 1.0})
    out += [item(name, value, '   ') for name, value in ionic.items()]
    out += ['  </separator>\n  <separator name="ionic md" >\n']
    md = {'TEBEG': float(tebeg), 'TEEND': float(tebeg), 'NBLOCK': nblock, 'KBLOCK': frames, 'NPACO': 256}
    out += [item(name, value, '   ') for name, value in md.items()]
    out += ['  </separator>\n </parameters>\n', _atominfo(species, counts, valence=1.0)]
    out.append(_structure(cells[0], fractional[0], ' ', name='initialpos'))
    for index in range(frames):
        energy = -338.3 + 0.01 * index
        out.append(' <calculation>\n')
        for scf in range(scf_steps):
            out += ['  <scstep>\n   <time name="dav">    0.77    0.77</time>\n']
            out += [_energy('   ', energy + 0.1 / (scf + 1)), '  </scstep>\n']
        out.append(_structure(cells[index], fractional[index], '  '))
        out.append(_varray('forces', rng.normal(0.0, 0.5, (atoms, 3)), '  '))
        out.append(_varray('stress', rng.normal(0.0, 5.0, (3, 3)), '  '))
        out += [_energy('  ', energy, md=True), '  <time name="totalsc">   12.07   12.68</time>\n', ' </calculation>\n']
    out.append(_structure(cells[-1], fractional[-1], ' ', name='finalpos'))
    out.append('</modeling>\n')
    return ''.join(out)


def write_vasprun(
    path, fractional, cells, species, counts, *, compression: str | None = None, **options
) -> pathlib.Path:
    """Write :func:`vasprun_text` (same arguments) to ``path``, compressed with ``compression``."""
    text = vasprun_text(fractional, cells, species, counts, **options)
    return write_bytes(path, text.encode(), compression)


#: An INCAR of an NVT AIMD run, with the comment styles and separators VASP accepts.
INCAR_MD = """SYSTEM = Li6PS5Cl argyrodite AIMD   ! 416 atoms
PREC = Normal ; ENCUT = 400     # eV
ALGO = Fast; EDIFF = 1D-5
ISMEAR = 0 ; SIGMA = 0.05
LREAL = Auto
ISYM = 0
   # molecular dynamics
IBRION = 0
NSW    = 10000
POTIM  = 2.0     ! fs
NBLOCK = 50 ; KBLOCK = 100
TEBEG = 500 ; TEEND = 500
MDALGO = 2
SMASS = 0
ISIF = 2
lwave = .FALSE.
LCHARG = F
LANGEVIN_GAMMA = 10.0 10.0 10.0
MAGMOM = 416*0.0
"""


def outcar_header_text(
    *,
    potim: float = 2.0,
    nblock: int = 50,
    kblock: int = 100,
    nsw: int = 10000,
    tebeg: float = 500.0,
    teend: float = 500.0,
    ibrion: int = 0,
    isif: int = 2,
    smass: float = 0.0,
    mdalgo: int | None = 2,
    incar_echo: bool = True,
    steps: int = 2,
    nfree: int = 0,
) -> str:
    """The beginning of a VASP 6 OUTCAR of an MD run: INCAR echo, POTCAR, parameter section, the first ionic steps.

    The parameter lines are formatted as VASP prints them (``POTIM  = 2.0000    time-step for
    ionic-motion``, ``NBLOCK =     50;   KBLOCK =    100``, ``TEBEG  =  500.0;   TEEND  =  500.0``).
    ``incar_echo=False`` gives the VASP 5 layout (no INCAR echo, no MDALGO line).
    """
    rule = '-' * 104
    lines = [
        ' vasp.6.3.2 27Jun22 (build Jan 03 2023 12:11:42) complex                        ',
        '  ',
        ' executed on             LinuxIFC date 2026.01.01  12:00:00',
        ' running   64 mpi-ranks, with    1 threads/rank',
        '',
        rule,
        '',
        ' INCAR:',
    ]
    if incar_echo:
        echo = {'SYSTEM': 'Li6PS5Cl', 'IBRION': ibrion, 'NSW': nsw, 'POTIM': f'{potim:g}', 'NBLOCK': nblock}
        echo.update({'TEBEG': f'{tebeg:g}', 'TEEND': f'{teend:g}', 'ISIF': isif, 'SMASS': f'{smass:g}'})
        if mdalgo is not None:
            echo['MDALGO'] = mdalgo
        lines += [f'   {tag} = {value}' for tag, value in echo.items()]
    lines += [
        '',
        ' POTCAR:    PAW_PBE Li_sv 10Sep2004',
        '   VRHFIN =Li: 1s2s2p',
        '   POMASS =    7.010; ZVAL   =    3.000    mass and valenz',
        '   ENMAX  =  499.034; ENMIN  =  374.276 eV',
        '',
    ]
    if mdalgo is not None and incar_echo:
        lines += ['  MD-specific parameters', f'                MDALGO = {mdalgo:3d}', '']
    lines += [
        ' Startparameter for this run:',
        '   NWRITE =      2    write-flag & timer',
        '   PREC   = normal    normal or accurate (medium, high low for compatibility)',
        ' Electronic Relaxation 1',
        '   ENCUT  =  400.0 eV  29.40 Ry    5.42 a.u.  12.12 12.12 12.12*2*pi/ulx,y,z',
        '   NELM   =     60;   NELMIN=  4; NELMDL= -5     # of ELM steps ',
        ' Ionic relaxation',
        '   EDIFFG = 0.1E-03   stopping-criterion for IOM',
        f'   NSW    = {nsw:6d}    number of steps for IOM',
        f'   NBLOCK = {nblock:6d};   KBLOCK = {kblock:6d}    inner block; outer block ',
        f'   IBRION = {ibrion:6d}    ionic relax: 0-MD 1-quasi-New 2-CG',
        f'   NFREE  = {nfree:6d}    steps in history (QN), initial steepest desc. (CG)',
        f'   ISIF   = {isif:6d}    stress and relaxation',
        '   IWAVPR =     11    prediction:  0-non 1-charg 2-wave 3-comb',
        '   ISYM   =      0    0-nonsym 1-usesym 2-fastsym',
        '   LCORR  =      T    Harris-Foulkes like correction to forces',
        '',
        f'   POTIM  = {potim:6.4f}    time-step for ionic-motion',
        '   TEIN   =    0.0    initial temperature',
        f'   TEBEG  = {tebeg:6.1f};   TEEND  = {teend:6.1f} temperature during run',
        f'   SMASS  = {smass:6.2f}    Nose mass-parameter (am)',
        '   estimated Nose-frequenzy (Omega)   =  0.10E-29 period in steps =****** mass=  -0.280E-25a.u.',
        '   SCALEE = 1.0000    scale energy and forces',
        '   NPACO  =    256;   APACO  = 10.0  distance and # of slots for P.C.',
        '   PSTRESS=    0.0 pullay stress',
        '',
        '  Mass of Ions in am',
        '   POMASS =   7.01 30.97 32.07 35.45',
        '',
        ' Electronic relaxation 2 (details)',
        '   IALGO  =     68    algorithm',
        '',
        rule,
        '',
    ]
    for step in range(1, steps + 1):
        lines += [
            f'{"-" * 41} Iteration {step:6d}(   1)  {"-" * 39}',
            '',
            '    POTLOK:  cpu time    0.5166: real time    0.6379',
            '  free energy    TOTEN  =     -1338.48481752 eV',
            '',
        ]
    return '\n'.join(lines) + '\n'


# ------------------------------------------------------------------------------ CONTCAR, MD outputs, a fake VASP


def contcar_text(
    species: list[str],
    counts: list[int],
    cell: np.ndarray,
    fractional: np.ndarray,
    velocities: np.ndarray | None = None,
    *,
    title: str = 'unknown system',
    predictor_block: bool = True,
) -> str:
    """The text of a CONTCAR as VASP writes it after an MD step.

    Direct positions ``(3F20.16)``, then a blank line and the Cartesian velocities in Å/fs ``(3ES16.8)``,
    then (``predictor_block``) a blank line and a predictor-corrector block, whose content readers ignore.
    """
    lines = [title, '   1.00000000000000']
    lines += [''.join(f'{value:22.16f}' for value in row) for row in np.asarray(cell, dtype=float)]
    lines += [''.join(f'   {name:<2}' for name in species), ''.join(f'{count:6d}' for count in counts), 'Direct']
    lines += [''.join(f'{value:20.16f}' for value in row) for row in np.asarray(fractional, dtype=float)]
    if velocities is not None:
        lines.append('  ')
        lines += [''.join(f'{value:16.8E}' for value in row) for row in np.asarray(velocities, dtype=float)]
        if predictor_block:
            lines += ['', '  1', '   0.20000000E+01']
            lines += [''.join(f'{0.0:16.8E}' for _ in range(3)) for _ in range(len(fractional))]
    return '\n'.join(lines) + '\n'


def write_contcar(path, species, counts, cell, fractional, velocities=None, **options) -> pathlib.Path:
    """Write :func:`contcar_text` (same arguments) to ``path``."""
    return write_bytes(path, contcar_text(species, counts, cell, fractional, velocities, **options).encode())


def md_vasprun_text(
    fractional: np.ndarray,
    cell: np.ndarray,
    species: list[str],
    counts: list[int],
    energies: dict[str, np.ndarray],
    electronic_steps: list[int],
    *,
    nsw: int,
    potim: float,
    nblock: int,
    tebeg: float,
    nelm: int = 60,
    finished: bool = True,
) -> str:
    """An MD vasprun.xml whose k-th ``<calculation>`` is the state after k steps, with the given energies.

    :param fractional: ``(steps, atoms, 3)`` the positions after each step written.
    :param energies: ``e_fr_energy``, ``kinetic`` and ``total`` of each step (eV), optionally ``nosepot`` and
        ``nosekinetic`` (zero otherwise).
    :param electronic_steps: the ``<scstep>`` of each step (``nelm`` where the self-consistency did not converge).
    :param finished: False leaves the file as a killed run does: a last ``<calculation>`` cut short, no end tag.
    """
    fractional = np.asarray(fractional, dtype=float)
    header = vasprun_text(fractional[:1], cell, species, counts, potim=potim, nblock=nblock, tebeg=tebeg)
    header = header[: header.index(' <calculation>')]
    header = header.replace('name="NSW">     1</i>', f'name="NSW">{nsw:6d}</i>')
    header = header.replace('name="NELM">    60</i>', f'name="NELM">{nelm:6d}</i>')
    parts = [header]
    for index, positions in enumerate(fractional):
        energy = float(energies['e_fr_energy'][index])
        parts.append(' <calculation>\n')
        for scf in range(int(electronic_steps[index])):
            parts += ['  <scstep>\n', _energy('   ', energy + 0.1 / (scf + 1)), '  </scstep>\n']
        parts.append(_structure(np.asarray(cell, dtype=float), positions, '  '))
        items = {
            'e_fr_energy': energy,
            'e_wo_entrp': energy,
            'e_0_energy': energy,
            'kinetic': float(energies['kinetic'][index]),
            'lattice kinetic': 0.0,
            'nosepot': float(energies['nosepot'][index]) if 'nosepot' in energies else 0.0,
            'nosekinetic': float(energies['nosekinetic'][index]) if 'nosekinetic' in energies else 0.0,
            'total': float(energies['total'][index]),
        }
        body = ''.join(f'   <i name="{name}">{value:16.8f} </i>\n' for name, value in items.items())
        parts += [f'  <energy>\n{body}  </energy>\n', ' </calculation>\n']
    if finished:
        parts += [_structure(np.asarray(cell, dtype=float), fractional[-1], ' ', name='finalpos'), '</modeling>\n']
    else:
        parts.append(' <calculation>\n  <scstep>\n   <time name="dav">    0.77')
    return ''.join(parts)


def md_outcar_text(
    electronic_steps: list[int],
    *,
    nsw: int,
    potim: float,
    nblock: int,
    tebeg: float,
    smass: float,
    nelm: int = 60,
    finished: bool = True,
    ibrion: int = 0,
    isif: int = 2,
    nfree: int = 0,
    before_footer: str = '',
) -> str:
    """An MD OUTCAR: :func:`outcar_header_text`, the electronic iterations of each ionic step, the timing footer.

    aiida-vasp decides from it whether the run finished (the footer) and whether the last self-consistency
    reached NELM; ``finished=False`` leaves the footer out, as a killed run does. With ``ibrion`` other than 0
    it is the OUTCAR of a static run (−1), a relaxation (1–3) or a linear response (7, 8): aiida-vasp reads
    IBRION, NSW and the iterations to decide whether a relaxation converged. ``before_footer`` is written after
    the last iteration (the elastic moduli of IBRION = 6, say).
    """
    text = outcar_header_text(
        potim=potim,
        nblock=nblock,
        kblock=max(nsw // nblock, 1),
        nsw=nsw,
        tebeg=tebeg,
        teend=tebeg,
        smass=smass,
        steps=0,
        ibrion=ibrion,
        isif=isif,
        nfree=nfree,
    )
    text = text.replace('   NELM   =     60;', f'   NELM   = {nelm:5d};')
    lines = []
    for step, count in enumerate(electronic_steps, start=1):
        for iteration in range(1, int(count) + 1):
            lines += [f'{"-" * 41} Iteration {step:6d}({iteration:4d})  {"-" * 39}', '']
        lines += ['  free energy    TOTEN  =      -100.00000000 eV', '']
    if before_footer:
        lines += before_footer.splitlines()
    if finished:
        lines += [
            ' General timing and accounting informations for this job:',
            ' ========================================================',
            '',
            '                  Total CPU time used (sec):        1.000',
            '                            User time (sec):        1.000',
            '',
        ]
    return text + '\n'.join(lines) + '\n'


#: Environment variable naming the JSON file of faults the fake VASP plays, one per run (see :func:`run_fake_vasp`).
FAKE_VASP_FAULTS = 'FAKE_VASP_FAULTS'

#: eV/(Å·amu) in Å/fs², to integrate Newton's equations in Å, fs and amu.
ACCELERATION_A_FS2 = 1.602176634e-19 * 1.0e-30 / (1.66053906660e-27 * 1.0e-20)

#: Electronic steps the fake VASP reports for a converged self-consistency.
FAKE_ELECTRONIC_STEPS = 5


def emt_velocity_verlet(symbols, positions, cell, velocities_A_fs, steps: int, timestep_fs: float) -> dict:
    """Integrate ``steps`` velocity-Verlet steps with ASE's EMT; return the states after each step.

    Units: Å, fs, amu, eV. No thermostat (NVE): a continuation from (positions, velocities) reproduces the
    uninterrupted run exactly, which the tests use. Returns ``positions`` and ``velocities`` ``(steps, atoms,
    3)`` (Cartesian, unwrapped; Å/fs), ``potential`` and ``kinetic`` ``(steps,)`` (eV).
    """
    from ase import Atoms
    from ase.calculators.emt import EMT

    atoms = Atoms(symbols, positions=positions, cell=cell, pbc=True)
    atoms.calc = EMT()
    masses = atoms.get_masses()[:, None]
    x = np.array(positions, dtype=float)
    v = np.array(velocities_A_fs, dtype=float)
    acceleration = atoms.get_forces() / masses * ACCELERATION_A_FS2
    history = {'positions': [], 'velocities': [], 'potential': [], 'kinetic': []}
    for _ in range(steps):
        x = x + v * timestep_fs + 0.5 * acceleration * timestep_fs**2
        atoms.positions = x
        new_acceleration = atoms.get_forces() / masses * ACCELERATION_A_FS2
        v = v + 0.5 * (acceleration + new_acceleration) * timestep_fs
        acceleration = new_acceleration
        history['positions'].append(x.copy())
        history['velocities'].append(v.copy())
        history['potential'].append(atoms.get_potential_energy())
        history['kinetic'].append(0.5 * float(np.sum(masses * v**2)) / ACCELERATION_A_FS2)
    return {key: np.array(values) for key, values in history.items()}


def maxwell_boltzmann_A_fs(symbols, temperature_K: float, seed: int = 7) -> np.ndarray:
    """Velocities (Å/fs) drawn at ``temperature_K`` with zero total momentum, as the fake VASP draws them."""
    from ase.data import atomic_masses, atomic_numbers

    masses = np.array([atomic_masses[atomic_numbers[symbol]] for symbol in symbols])[:, None]
    sigma = np.sqrt(8.617333262e-5 * temperature_K / masses * ACCELERATION_A_FS2)
    velocities = np.random.default_rng(seed).normal(0.0, 1.0, (len(symbols), 3)) * sigma
    return velocities - np.sum(masses * velocities, axis=0) / masses.sum()


def _next_fault() -> dict:
    """Pop the first fault of the file named by ``$FAKE_VASP_FAULTS`` (``{}`` when none is left)."""
    import json
    import os

    path = os.environ.get(FAKE_VASP_FAULTS)
    if not path or not pathlib.Path(path).is_file():
        return {}
    faults = json.loads(pathlib.Path(path).read_text())
    if not faults:
        return {}
    pathlib.Path(path).write_text(json.dumps(faults[1:]))
    return faults[0]


def run_fake_vasp(workdir='.') -> int:
    """A fake VASP for ``mock-vasp``'s ``MOCK_VASP_VASP_CMD``: EMT (ASE) behind the files VASP writes.

    What it does depends on the INCAR, as VASP's would: IBRION = 0 an MD (:func:`run_fake_md`); IBRION 5 or 6
    with ISIF ≥ 3 and without LEPSILON the elastic tensor by finite differences (:func:`run_fake_elastic`);
    LEPSILON or IBRION 5–8 a linear response (:func:`run_fake_dfpt`); IBRION 1–3 with NSW > 0 a relaxation
    (:func:`run_fake_relax`); anything else a static calculation (:func:`run_fake_static`). IBRION defaults
    as in VASP: −1 for NSW = 0 or 1, 0 otherwise. One fault per run is taken from ``$FAKE_VASP_FAULTS``.
    """
    from aiida_superionic.readers.vasp import read_incar, read_poscar

    workdir = pathlib.Path(workdir)
    fault = _next_fault()
    if fault.get('crash'):
        print('fake VASP: crashed on purpose')
        return 1
    incar = read_incar(workdir / 'INCAR')
    poscar = read_poscar(workdir / 'POSCAR')
    nsw = int(incar.get('NSW', 0))
    ibrion = int(incar.get('IBRION', -1 if nsw <= 1 else 0))
    if ibrion == 0:
        return run_fake_md(workdir, incar, poscar, fault)
    if ibrion in (5, 6) and int(incar.get('ISIF', 2)) >= 3 and incar.get('LEPSILON') is not True:
        return run_fake_elastic(workdir, incar, poscar, fault)
    if incar.get('LEPSILON') is True or 5 <= ibrion <= 8:
        return run_fake_dfpt(workdir, incar, poscar, fault)
    if ibrion in (1, 2, 3) and nsw > 0:
        return run_fake_relax(workdir, incar, poscar, fault)
    return run_fake_static(workdir, incar, poscar, fault)


def run_fake_md(workdir: pathlib.Path, incar: dict, poscar, fault: dict) -> int:
    """The fake VASP's MD: EMT velocity Verlet, written as VASP's MD files.

    Reads INCAR (NSW, POTIM, NBLOCK, TEBEG, SMASS, NELM) and POSCAR (with its velocity block, or draws the
    velocities with :func:`maxwell_boltzmann_A_fs`), integrates with :func:`emt_velocity_verlet` and writes
    XDATCAR (every NBLOCK steps, numbered by step), vasprun.xml, OUTCAR and CONTCAR (the last state, with
    velocities in Å/fs) in VASP's layouts, the k-th step being the state after k steps.

    Faults (one JSON object per run, from the list in the file ``$FAKE_VASP_FAULTS``): ``stop_after`` k: the
    run is killed after step k (XDATCAR and vasprun.xml cut inside the next record, no OUTCAR footer, exit
    137); ``no_contcar``: no CONTCAR; ``nelm_at``: [steps] whose self-consistency stops at NELM; ``crash``:
    nothing written, exit 1.
    """
    nsw, potim, nblock = int(incar['NSW']), float(incar['POTIM']), int(incar.get('NBLOCK', 1))
    tebeg, smass, nelm = float(incar.get('TEBEG', 0.0)), float(incar.get('SMASS', 0.0)), int(incar.get('NELM', 60))
    symbols = poscar.symbols
    velocities = poscar.velocities
    if velocities is None:
        velocities = maxwell_boltzmann_A_fs(symbols, tebeg)
    steps = min(nsw, int(fault.get('stop_after', nsw)))
    finished = steps == nsw
    run = emt_velocity_verlet(symbols, poscar.positions, poscar.cell, velocities, steps, potim)
    fractional = (run['positions'] @ np.linalg.inv(poscar.cell)) % 1.0
    species, counts = poscar.species, poscar.counts

    recorded = [step for step in range(1, steps + 1) if step % nblock == 0]
    xdatcar = (
        xdatcar_text(
            fractional[[step - 1 for step in recorded]].reshape(len(recorded), -1, 3),
            poscar.cell,
            species,
            counts,
            numbers=recorded,
        )
        if recorded
        else _header_lines('unknown system', poscar.cell, species, counts, 1.0)
    )
    if not finished:
        xdatcar += f'Direct configuration={recorded[-1] + nblock if recorded else nblock:6d}\n   0.12345678  0.1'
    (workdir / 'XDATCAR').write_text(xdatcar)

    electronic = [nelm if step in fault.get('nelm_at', []) else FAKE_ELECTRONIC_STEPS for step in range(1, steps + 1)]
    energies = {
        'e_fr_energy': run['potential'],
        'kinetic': run['kinetic'],
        'total': run['potential'] + run['kinetic'],
    }
    md = {'nsw': nsw, 'potim': potim, 'nblock': nblock, 'tebeg': tebeg, 'nelm': nelm, 'finished': finished}
    (workdir / 'vasprun.xml').write_text(
        md_vasprun_text(fractional, poscar.cell, species, counts, energies, electronic, **md)
    )
    (workdir / 'OUTCAR').write_text(md_outcar_text(electronic, smass=smass, **md))
    if steps and not fault.get('no_contcar'):
        write_contcar(workdir / 'CONTCAR', species, counts, poscar.cell, fractional[-1], run['velocities'][-1])
    print(f'fake VASP: {steps} of {nsw} MD steps with EMT')
    return 0 if finished else 137


# ------------------------------------------------------------------------------ zero-temperature tasks

#: The band gap (eV) the fake VASP plants in the eigenvalues of a static run: the valence band's maximum is at
#: Γ (0 eV), the conduction band's minimum at k = (0, 0, ½) (this value), an indirect gap. The direct gap is
#: smallest at (0, 0, ½) too: :data:`PLANTED_BAND_GAP` + :data:`PLANTED_VALENCE_WIDTH` × 2.
PLANTED_BAND_GAP = 1.234

#: The valence band's dispersion: E_v(k) = −w (3 − Σ cos 2πk_i), 0 at Γ.
PLANTED_VALENCE_WIDTH = 0.1

#: Empty bands the fake VASP writes above the occupied ones.
PLANTED_EMPTY_BANDS = 8

#: The entropy term −TS (eV) the fake VASP plants: e_fr_energy = E − TS', e_0_energy = E (EMT), e_wo_entrp = E + TS'.
PLANTED_ENTROPY_EV = 0.002

#: The ion-clamped dielectric tensor ε∞ (vasprun.xml ``epsilon``) of the fake linear response: a recording
#: the project makes, not physics.
PLANTED_EPSILON = np.array([[5.1, 0.1, 0.0], [0.1, 5.2, 0.0], [0.0, 0.0, 5.3]])

#: The ionic part (vasprun.xml ``epsilon_ion``), which the task must not take for ε∞.
PLANTED_EPSILON_ION = np.diag([12.0, 12.5, 13.0])

#: The trace/3 of the planted Born charge of each element (Σ = 0 over Cu₃Au, as the acoustic sum rule asks).
PLANTED_NOMINAL_CHARGES = {'Cu': 1.0, 'Au': -3.0}


def planted_born_charges(symbols: list[str], fractional: np.ndarray) -> np.ndarray:
    """The Born charges (atoms × 3 × 3, e) the fake linear response writes, different at every site.

    Z_i = q(element) 𝟙 + 0.1 × (fractional position of i) ⊗ (1, −1, ½): a recording the project makes so that a
    test can tell the sites apart (and find them in the input order), not physics.
    """
    fractional = np.asarray(fractional, dtype=float)
    nominal = np.array([PLANTED_NOMINAL_CHARGES.get(symbol, 0.5) for symbol in symbols])
    return nominal[:, None, None] * np.eye(3) + 0.1 * np.einsum('ai,j->aij', fractional, [1.0, -1.0, 0.5])


def read_kpoints(path) -> tuple[np.ndarray, np.ndarray, list[int] | None]:
    """The k-points (fractional, k-points × 3) and weights of a KPOINTS file, and the mesh when it is one.

    An automatic mesh (``0`` points, ``Gamma`` or ``Monkhorst-Pack``) is unfolded without symmetry: Γ-centred
    k = (n + s) / N, Monkhorst–Pack k = (n + s + (1 − N)/2) / N, n = 0 … N − 1, folded into [−½, ½).
    """
    lines = pathlib.Path(path).read_text().splitlines()
    count = int(lines[1].split()[0])
    if count == 0:
        style = lines[2].strip().lower()
        mesh = [int(value) for value in lines[3].split()[:3]]
        shift = [float(value) for value in lines[4].split()[:3]] if len(lines) > 4 and lines[4].strip() else [0.0] * 3
        axes = []
        for divisions, offset in zip(mesh, shift, strict=True):
            start = offset if style.startswith('g') else offset + (1 - divisions) / 2
            axes.append([(n + start) / divisions for n in range(divisions)])
        points = np.array([[a, b, c] for a in axes[0] for b in axes[1] for c in axes[2]])
        points = (points + 0.5) % 1.0 - 0.5
        return points, np.full(len(points), 1.0 / len(points)), mesh
    rows = np.array([[float(value) for value in line.split()[:4]] for line in lines[3 : 3 + count]])
    return rows[:, :3], rows[:, 3] / rows[:, 3].sum(), None


def planted_bands(kpoints: np.ndarray, occupied_bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (k-points × bands, eV) and occupations (0 or 1) with the gap :data:`PLANTED_BAND_GAP`.

    ``occupied_bands`` valence bands, the top one E_v(k) = −w (3 − Σ cos 2πk_i) (w =
    :data:`PLANTED_VALENCE_WIDTH`) and the others below it; :data:`PLANTED_EMPTY_BANDS` conduction bands, the
    lowest E_c(k) = gap + 0.2 (1 + cos 2πk₃), the others 0.5 eV apart above it.
    """
    cosines = np.cos(2.0 * np.pi * np.asarray(kpoints, dtype=float))
    top_valence = -PLANTED_VALENCE_WIDTH * (3.0 - cosines.sum(axis=1))
    depth = np.linspace(-11.0, 0.0, occupied_bands) if occupied_bands > 1 else np.zeros(1)
    valence = top_valence[:, None] + depth[None, :]
    bottom_conduction = PLANTED_BAND_GAP + 0.2 * (1.0 + cosines[:, 2])
    conduction = bottom_conduction[:, None] + 0.5 * np.arange(PLANTED_EMPTY_BANDS)[None, :]
    eigenvalues = np.concatenate([valence, conduction], axis=1)
    occupations = np.concatenate([np.ones_like(valence), np.zeros_like(conduction)], axis=1)
    return eigenvalues, occupations


def _item(name: str, value, indent: str) -> str:
    """An ``<i>`` of vasprun.xml, typed as VASP types it."""
    if isinstance(value, bool | np.bool_):
        return f'{indent}<i type="logical" name="{name}"> {"T" if value else "F"}  </i>\n'
    if isinstance(value, int | np.integer):
        return f'{indent}<i type="int" name="{name}">{int(value):6d}</i>\n'
    if isinstance(value, float | np.floating):
        return f'{indent}<i name="{name}">{float(value):16.8f}</i>\n'
    return f'{indent}<i type="string" name="{name}">{value}</i>\n'


def _energy_block(indent: str, free: float, without_entropy: float, sigma0: float) -> str:
    items = (('e_fr_energy', free), ('e_wo_entrp', without_entropy), ('e_0_energy', sigma0))
    body = ''.join(f'{indent} <i name="{name}">{value:16.8f} </i>\n' for name, value in items)
    return f'{indent}<energy>\n{body}{indent}</energy>\n'


def _atominfo(species: list[str], counts: list[int], valence: float = 11.0) -> str:
    """vasprun's ``<atominfo>``: the ions and their types (the fake POTCARs' ZVAL, 11, unless ``valence``)."""
    atoms = sum(counts)
    out = [' <atominfo>\n', f'  <atoms>{atoms:8d} </atoms>\n  <types>{len(counts):8d} </types>\n']
    out += ['  <array name="atoms" >\n   <dimension dim="1">ion</dimension>\n']
    out += ['   <field type="string">element</field>\n   <field type="int">atomtype</field>\n   <set>\n']
    for kind, (name, count) in enumerate(zip(species, counts, strict=True)):
        out += [f'    <rc><c>{name:<2}</c><c>{kind + 1:4d}</c></rc>\n'] * count
    out += ['   </set>\n  </array>\n  <array name="atomtypes" >\n   <dimension dim="1">type</dimension>\n']
    out += ['   <field type="int">atomspertype</field>\n   <field type="string">element</field>\n']
    out += ['   <field>mass</field>\n   <field>valence</field>\n']
    out += ['   <field type="string">pseudopotential</field>\n   <set>\n']
    for name, count in zip(species, counts, strict=True):
        out += [f'    <rc><c>{count:4d}</c><c>{name:<2}</c><c>      1.00000000</c><c>{valence:16.8f}</c>']
        out += [f'<c>  PAW_PBE {name} 01Jan2000                  </c></rc>\n']
    out += ['   </set>\n  </array>\n </atominfo>\n']
    return ''.join(out)


def task_vasprun_text(
    steps: list[dict],
    species: list[str],
    counts: list[int],
    incar: dict,
    kpoints: np.ndarray,
    weights: np.ndarray,
    *,
    mesh: list[int] | None = None,
    nelect: float,
    nbands: int,
    bands: tuple[np.ndarray, np.ndarray] | None = None,
    efermi: float = 0.0,
    linear_response: dict | None = None,
    finished: bool = True,
) -> str:
    """A vasprun.xml of a static run, a relaxation or a linear response, one ``<calculation>`` per ionic step.

    :param steps: per ionic step ``cell`` (3 × 3, Å), ``fractional`` (atoms × 3), ``forces`` (eV/Å),
        ``stress_kbar`` (VASP's sign: positive in compression), ``energy`` (E, eV) and ``electronic_steps``;
        the energies written are e_0_energy = E, e_fr_energy = E − :data:`PLANTED_ENTROPY_EV`, e_wo_entrp = E +
        :data:`PLANTED_ENTROPY_EV` (VASP's E(σ→0) = (F + E_wo)/2 for Gaussian smearing).
    :param incar: the tags of ``<incar>`` and ``<parameters>`` (upper case).
    :param bands: eigenvalues and occupations (k-points × bands) of the last step, or None to write none.
    :param linear_response: ``born_charges`` (atoms × 3 × 3), ``epsilon``, ``epsilon_ion`` (3 × 3) written in
        the last step, as VASP does with LEPSILON.
    :param finished: False cuts the file inside the step after the last one, as a killed run leaves it.
    """
    out = ['<?xml version="1.0" encoding="ISO-8859-1"?>\n<modeling>\n <generator>\n']
    out += ['  <i name="program" type="string">vasp </i>\n', '  <i name="version" type="string">6.3.2  </i>\n']
    out += ['  <i name="subversion" type="string">synthetic (tests/vasp_files.py) </i>\n', ' </generator>\n']
    out += [' <incar>\n', *(_item(name, value, '  ') for name, value in incar.items()), ' </incar>\n']
    out += [' <kpoints>\n']
    if mesh is not None:
        out += ['  <generation param="Gamma">\n']
        out += ['   <v type="int" name="divisions">' + ''.join(f'{value:8d}' for value in mesh) + ' </v>\n']
        out += ['   <v name="usershift">      0.00000000       0.00000000       0.00000000 </v>\n', '  </generation>\n']
    out += [_varray('kpointlist', np.asarray(kpoints), '  '), _varray('weights', np.asarray(weights)[:, None], '  ')]
    out += [' </kpoints>\n <parameters>\n  <separator name="electronic" >\n']
    electronic = {'PREC': 'accurate', 'ENMAX': 250.0, 'EDIFF': float(incar.get('EDIFF', 1e-6))}
    electronic.update({'NELECT': float(nelect), 'NBANDS': int(nbands), 'ISPIN': 1, 'NELM': int(incar.get('NELM', 60))})
    electronic.update({'ISMEAR': 0, 'SIGMA': 0.05})
    out += [_item(name, value, '   ') for name, value in electronic.items()]
    out += ['  </separator>\n  <separator name="ionic" >\n']
    ionic = {'NSW': int(incar.get('NSW', 0)), 'IBRION': int(incar.get('IBRION', -1)), 'ISIF': int(incar.get('ISIF', 2))}
    ionic['EDIFFG'] = float(incar.get('EDIFFG', -0.01))
    out += [_item(name, value, '   ') for name, value in ionic.items()]
    out += ['  </separator>\n  <separator name="linear response parameters" >\n']
    out += [_item('LEPSILON', bool(incar.get('LEPSILON', False)), '   '), '  </separator>\n </parameters>\n']
    out.append(_atominfo(species, counts))
    first = steps[0] if steps else None
    if first is not None:
        out.append(_structure(first['cell'], first['fractional'], ' ', name='initialpos'))
    for index, step in enumerate(steps):
        energy = float(step['energy'])
        free, without = energy - PLANTED_ENTROPY_EV, energy + PLANTED_ENTROPY_EV
        out.append(' <calculation>\n')
        count = int(step['electronic_steps'])
        for scf in range(count):
            shift = 0.1 / (scf + 1) if scf < count - 1 else 0.0
            out += [
                '  <scstep>\n',
                _energy_block('   ', free + shift, without + shift, energy + shift),
                '  </scstep>\n',
            ]
        out.append(_structure(np.asarray(step['cell'], dtype=float), step['fractional'], '  '))
        out.append(_varray('forces', np.asarray(step['forces'], dtype=float), '  '))
        out.append(_varray('stress', np.asarray(step['stress_kbar'], dtype=float), '  '))
        last = index == len(steps) - 1
        if last and linear_response is not None:
            out.append(_varray('epsilon', np.asarray(linear_response['epsilon']), '  '))
            out.append(_varray('epsilon_ion', np.asarray(linear_response['epsilon_ion']), '  '))
            out.append('  <array name="born_charges" >\n')
            for tensor in np.asarray(linear_response['born_charges'], dtype=float):
                out += ['   <set>\n', *(f'    <v>{row[0]:16.8f}{row[1]:16.8f}{row[2]:16.8f} </v>\n' for row in tensor)]
                out.append('   </set>\n')
            out.append('  </array>\n')
        out.append(_energy_block('  ', free, without, energy))
        if last and bands is not None:
            eigenvalues, occupations = bands
            out += ['  <eigenvalues>\n   <array>\n    <dimension dim="1">band</dimension>\n']
            out += ['    <dimension dim="2">kpoint</dimension>\n    <dimension dim="3">spin</dimension>\n']
            out += ['    <field>eigene</field>\n    <field>occ</field>\n    <set>\n     <set comment="spin 1">\n']
            for kpoint, (values, occupancies) in enumerate(zip(eigenvalues, occupations, strict=True)):
                out.append(f'      <set comment="kpoint {kpoint + 1}">\n')
                out += [
                    f'       <r>{value:10.4f}{occupancy:10.4f} </r>\n'
                    for value, occupancy in zip(values, occupancies, strict=True)
                ]
                out.append('      </set>\n')
            out += ['     </set>\n    </set>\n   </array>\n  </eigenvalues>\n']
            out += [f'  <dos>\n   <i name="efermi">{efermi:12.8f} </i>\n  </dos>\n']
        out.append(' </calculation>\n')
    if not finished:
        out.append(' <calculation>\n  <scstep>\n   <time name="dav">    0.77')
        return ''.join(out)
    last_step = steps[-1]
    out.append(_structure(np.asarray(last_step['cell'], dtype=float), last_step['fractional'], ' ', name='finalpos'))
    out.append('</modeling>\n')
    return ''.join(out)


def _emt_state(atoms, electronic_steps: int) -> dict:
    """One ionic step of the fake VASP: EMT energy, forces and stress (kbar, VASP's sign) of ``atoms``."""
    from ase.units import GPa

    cell = np.array(atoms.cell)
    return {
        'cell': cell,
        'fractional': atoms.get_scaled_positions(wrap=False),
        'forces': atoms.get_forces(),
        # ASE's stress is positive in tension (eV/Å³); VASP writes kbar, positive in compression.
        'stress_kbar': -10.0 * atoms.get_stress(voigt=False) / GPa,
        'energy': atoms.get_potential_energy(),
        'electronic_steps': electronic_steps,
    }


def _emt_atoms(poscar):
    from ase import Atoms
    from ase.calculators.emt import EMT

    atoms = Atoms(poscar.symbols, positions=poscar.positions, cell=poscar.cell, pbc=True)
    atoms.calc = EMT()
    return atoms


def _nelect(incar: dict, poscar) -> float:
    """NELECT of the INCAR, else the neutral count of the fake POTCARs (ZVAL = 11 for every element)."""
    return float(incar.get('NELECT', 11.0 * len(poscar.symbols)))


def _write_task_outputs(
    workdir,
    incar,
    poscar,
    steps,
    *,
    finished,
    bands=None,
    linear_response=None,
    fault=None,
    outcar_extra='',
    contcar_step=-1,
):
    """Write vasprun.xml, OUTCAR and CONTCAR (the state of step ``contcar_step``, the last by default) of a task
    run; return VASP's exit status. ``outcar_extra`` is written in OUTCAR after the last iteration, before the
    timing footer.
    """
    fault = fault or {}
    kpoints, weights, mesh = read_kpoints(workdir / 'KPOINTS')
    nelect = _nelect(incar, poscar)
    occupied = math.ceil(nelect / 2.0)
    nbands = occupied + PLANTED_EMPTY_BANDS
    eigenvalues = None
    if bands is True:
        eigenvalues = planted_bands(kpoints, occupied)
    text = task_vasprun_text(
        steps,
        poscar.species,
        poscar.counts,
        incar,
        kpoints,
        weights,
        mesh=mesh,
        nelect=nelect,
        nbands=nbands,
        bands=eigenvalues,
        efermi=PLANTED_BAND_GAP / 2.0,
        linear_response=linear_response,
        finished=finished,
    )
    (workdir / 'vasprun.xml').write_text(text)
    nelm = int(incar.get('NELM', 60))
    outcar = md_outcar_text(
        [step['electronic_steps'] for step in steps] or [1],
        nsw=int(incar.get('NSW', 0)),
        potim=float(incar.get('POTIM', 0.5)),
        nblock=1,
        tebeg=0.0,
        smass=0.0,
        nelm=nelm,
        finished=finished,
        ibrion=int(incar.get('IBRION', -1)),
        isif=int(incar.get('ISIF', 2)),
        nfree=int(incar.get('NFREE', 0)),
        before_footer=outcar_extra,
    )
    (workdir / 'OUTCAR').write_text(outcar)
    if steps and not fault.get('no_contcar'):
        last = steps[contcar_step]
        write_contcar(workdir / 'CONTCAR', poscar.species, poscar.counts, last['cell'], last['fractional'])
    return 0 if finished else 137


def run_fake_static(workdir: pathlib.Path, incar: dict, poscar, fault: dict) -> int:
    """The fake VASP's static run: one ionic step with EMT, and bands with :data:`PLANTED_BAND_GAP`.

    Faults: ``nelm`` (the self-consistency stops at NELM), ``no_eigenvalues`` (no ``<eigenvalues>``),
    ``stop_after`` 0 (killed before the end of the step).
    """
    nelm = int(incar.get('NELM', 60))
    state = _emt_state(_emt_atoms(poscar), nelm if fault.get('nelm') else FAKE_ELECTRONIC_STEPS)
    finished = 'stop_after' not in fault
    status = _write_task_outputs(
        workdir, incar, poscar, [state], finished=finished, bands=not fault.get('no_eigenvalues'), fault=fault
    )
    print(f'fake VASP: static run with EMT, NELECT {_nelect(incar, poscar):g}')
    return status


def run_fake_dfpt(workdir: pathlib.Path, incar: dict, poscar, fault: dict) -> int:
    """The fake VASP's linear response (LEPSILON): the EMT step, and the planted Born charges and ε.

    The Born charges are :func:`planted_born_charges` of POSCAR's atoms, ε∞ :data:`PLANTED_EPSILON` and the
    ionic part :data:`PLANTED_EPSILON_ION`: a recording the project makes, not physics.
    """
    state = _emt_state(_emt_atoms(poscar), FAKE_ELECTRONIC_STEPS)
    fractional = poscar.positions @ np.linalg.inv(poscar.cell)
    response = {
        'born_charges': planted_born_charges(poscar.symbols, fractional),
        'epsilon': PLANTED_EPSILON,
        'epsilon_ion': PLANTED_EPSILON_ION,
    }
    status = _write_task_outputs(workdir, incar, poscar, [state], finished=True, linear_response=response, fault=fault)
    print('fake VASP: linear response with planted Born charges and dielectric tensors')
    return status


def run_fake_relax(workdir: pathlib.Path, incar: dict, poscar, fault: dict) -> int:
    """The fake VASP's relaxation: BFGS on EMT until every force is below |EDIFFG| or NSW steps are done.

    ISIF = 3 relaxes the cell too (ASE's ``FrechetCellFilter``). Each ionic step is the state where the
    forces were computed; CONTCAR is the last one. Faults: ``stop_after`` k (killed after k ionic steps:
    vasprun.xml cut, no OUTCAR footer, exit 137), ``nelm_at`` [steps] whose self-consistency stops at NELM.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    nsw, nelm = int(incar['NSW']), int(incar.get('NELM', 60))
    fmax = abs(float(incar.get('EDIFFG', -0.01)))
    atoms = _emt_atoms(poscar)
    target = FrechetCellFilter(atoms) if int(incar.get('ISIF', 2)) >= 3 else atoms
    optimizer = BFGS(target, logfile=None)
    limit = min(nsw, int(fault.get('stop_after', nsw)))
    steps = []
    for _ in optimizer.irun(fmax=fmax, steps=nsw - 1):
        number = len(steps) + 1
        electronic = nelm if number in fault.get('nelm_at', []) else FAKE_ELECTRONIC_STEPS
        steps.append(_emt_state(atoms, electronic))
        if len(steps) >= limit:
            break
    finished = 'stop_after' not in fault or len(steps) < int(fault['stop_after'])
    status = _write_task_outputs(workdir, incar, poscar, steps, finished=finished, fault=fault)
    print(f'fake VASP: relaxation with EMT, {len(steps)} of at most {nsw} ionic steps')
    return status


# ------------------------------------------------------------------------------ elastic tensor (IBRION = 6)

#: The strain components of VASP's elastic moduli, in its order (rows and columns of OUTCAR's tables), as index
#: pairs of the 3 × 3 tensors.
VASP_STRAIN_COMPONENTS = (
    ('XX', (0, 0)),
    ('YY', (1, 1)),
    ('ZZ', (2, 2)),
    ('XY', (0, 1)),
    ('YZ', (1, 2)),
    ('ZX', (2, 0)),
)

#: eV/Å³ in kbar.
EV_A3_IN_KBAR = 1602.1766208

#: Finite-difference stencils of VASP's NFREE: (multiples of the step, weights); the derivative is
#: Σ wₖ f(mₖ h) / h (VASP's finite_diff.F: central differences for 2, the five-point formula for 4).
NFREE_STENCILS = {2: ((1, -1), (0.5, -0.5)), 4: ((2, 1, -1, -2), (-1 / 12, 8 / 12, -8 / 12, 1 / 12))}


def _voigt_vasp(tensor: np.ndarray) -> np.ndarray:
    """A symmetric 3 × 3 tensor as its six components in VASP's order XX YY ZZ XY YZ ZX."""
    return np.array([tensor[i, j] for _, (i, j) in VASP_STRAIN_COMPONENTS])


def _strain_tensor(component: int, amount: float) -> np.ndarray:
    """The symmetric strain with VASP's component ``component`` at ``amount`` (a shear as the engineering γ)."""
    _, (i, j) = VASP_STRAIN_COMPONENTS[component]
    strain = np.zeros((3, 3))
    if i == j:
        strain[i, i] = amount
    else:
        strain[i, j] = strain[j, i] = amount / 2.0
    return strain


def emt_elastic_moduli_kbar(atoms, potim: float = 0.015, nfree: int = 2) -> dict:
    """The blocks of OUTCAR's elastic moduli for ``atoms`` with EMT, computed as VASP does with IBRION = 6.

    A recording the project makes with EMT, in VASP's units (kbar) and order (XX YY ZZ XY YZ ZX, rows the
    strain, columns the stress), with VASP's algorithm: the reference; each strain component at ±POTIM (and
    ±2 POTIM for NFREE = 4), ions clamped at their fractional positions (F = 1 + ε, ε symmetric, a shear as
    the engineering strain); each atom displaced by ±POTIM Å along x, y and z. From them:

    - ``rigid``: C⁰_kl = dσ_l/dε_k (σ positive in tension, so the moduli are positive, as VASP prints them);
    - ``symmetrized``: (C⁰ + C⁰ᵀ)/2 (VASP also imposes the crystal's symmetry, which a recording does not need);
    - ``ionic``: the relaxation of the ions at fixed strain in the harmonic approximation, −Γᵀ K⁺ Γ / V, with
      the internal strain Γ_ak = dF_a/dε_k (eV/Å per unit strain) and the force constants K = −dF/du (eV/Å²)
      whose pseudo-inverse K⁺ leaves the three translations out;
    - ``total``: ``symmetrized`` + ``ionic``, the relaxed-ion moduli.

    Also ``states``: the configurations in the order the fake writes them (reference, ionic displacements, strained
    cells), each as :func:`_emt_state` gives it.
    """
    from ase.calculators.emt import EMT

    offsets, weights = NFREE_STENCILS[nfree]
    reference = atoms.copy()
    reference.calc = EMT()
    states = [_emt_state(reference, FAKE_ELECTRONIC_STEPS)]
    count = len(reference)
    cell = np.array(reference.cell)
    fractional = reference.get_scaled_positions(wrap=False)

    def evaluate(candidate):
        candidate.calc = EMT()
        state = _emt_state(candidate, FAKE_ELECTRONIC_STEPS)
        states.append(state)
        stress_GPa = -state['stress_kbar'] / 10.0  # back to positive in tension
        return state['forces'], stress_GPa

    constants = np.zeros((3 * count, 3 * count))
    for atom in range(count):
        for axis in range(3):
            derivative = np.zeros(3 * count)
            for offset, weight in zip(offsets, weights, strict=True):
                displaced = reference.copy()
                displaced.positions[atom, axis] += offset * potim
                forces, _ = evaluate(displaced)
                derivative += weight * forces.ravel() / potim
            constants[:, 3 * atom + axis] = -derivative
    constants = (constants + constants.T) / 2.0

    rigid = np.zeros((6, 6))
    internal = np.zeros((3 * count, 6))
    for component in range(6):
        for offset, weight in zip(offsets, weights, strict=True):
            deformation = np.eye(3) + _strain_tensor(component, offset * potim)
            strained = reference.copy()
            strained.set_cell(cell @ deformation.T, scale_atoms=False)
            strained.set_scaled_positions(fractional)
            forces, stress_GPa = evaluate(strained)
            rigid[component] += weight * _voigt_vasp(stress_GPa) * 10.0 / potim  # kbar
            internal[:, component] += weight * forces.ravel() / potim

    translations = np.zeros((3 * count, 3))
    for axis in range(3):
        translations[axis::3, axis] = 1.0 / np.sqrt(count)
    projector = np.eye(3 * count) - translations @ translations.T
    values, vectors = np.linalg.eigh(projector @ constants @ projector)
    kept = np.abs(values) > 1e-6 * np.abs(values).max()
    inverse = (vectors[:, kept] / values[kept]) @ vectors[:, kept].T
    ionic = -(internal.T @ inverse @ internal) / reference.get_volume() * EV_A3_IN_KBAR
    symmetrized = (rigid + rigid.T) / 2.0
    return {
        'rigid': rigid,
        'symmetrized': symmetrized,
        'ionic': ionic,
        'total': symmetrized + ionic,
        'states': states,
    }


def elastic_moduli_text(moduli: dict) -> str:
    """OUTCAR's elastic moduli blocks of IBRION = 6 with ISIF ≥ 3, laid out as VASP 5.4/6 prints them.

    Four tables in kbar, each a title, ``Direction`` and the components XX YY ZZ XY YZ ZX, a rule, six rows
    ``(1X,A2,5X,6F12.4)`` and a rule: "ELASTIC MODULI  (kBar)" (rigid ions, two spaces before the bracket),
    "SYMMETRIZED ELASTIC MODULI (kBar)", "ELASTIC MODULI CONTR FROM IONIC RELAXATION (kBar)" and "TOTAL
    ELASTIC MODULI (kBar)", as in real OUTCARs (parsevasp's ``Outcar`` and pymatgen's
    ``Outcar.read_elastic_tensor`` read the title, skip two lines and take six rows).
    """
    rule = ' ' + '-' * 80
    direction = ' Direction    XX          YY          ZZ          XY          YZ          ZX'
    blocks = (
        ('  ELASTIC MODULI  (kBar)', moduli['rigid']),
        ('  SYMMETRIZED ELASTIC MODULI (kBar)', moduli['symmetrized']),
        (' ELASTIC MODULI CONTR FROM IONIC RELAXATION (kBar)', moduli['ionic']),
        (' TOTAL ELASTIC MODULI (kBar)', moduli['total']),
    )
    lines = ['']
    for title, table in blocks:
        lines += [title, direction, rule]
        for (label, _), row in zip(VASP_STRAIN_COMPONENTS, np.asarray(table, dtype=float), strict=True):
            lines.append(f' {label}     ' + ''.join(f'{value:12.4f}' for value in row))
        lines += [rule, '', '']
    return '\n'.join(lines) + '\n'


def run_fake_elastic(workdir: pathlib.Path, incar: dict, poscar, fault: dict) -> int:
    """The fake VASP's IBRION = 6 with ISIF ≥ 3: the elastic moduli of :func:`emt_elastic_moduli_kbar`.

    vasprun.xml has every configuration (the reference first, as VASP computes it first; then the ionic
    displacements and the strained cells), so aiida-vasp's ``misc`` has the last one's forces and stress, not
    the reference's; CONTCAR is the reference (VASP moves nothing for good); OUTCAR has an iteration block per
    configuration and the moduli tables (:func:`elastic_moduli_text`) before its footer. A recording the project
    makes with EMT, not VASP's numbers.
    """
    nfree = int(incar.get('NFREE', 2))
    if nfree not in NFREE_STENCILS:
        print(f'fake VASP: NFREE = {nfree} is not faked (2 or 4)')
        return 1
    moduli = emt_elastic_moduli_kbar(_emt_atoms(poscar), float(incar.get('POTIM', 0.015)), nfree)
    status = _write_task_outputs(
        workdir,
        incar,
        poscar,
        moduli['states'],
        finished=True,
        fault=fault,
        outcar_extra=elastic_moduli_text(moduli),
        contcar_step=0,
    )
    print(f'fake VASP: elastic moduli with EMT by finite differences, {len(moduli["states"])} configurations')
    return status
