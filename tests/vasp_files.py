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
    frames: int, counts: list[int], seed: int = 0, step_A: float = 0.05, cell_A: float = 10.0
) -> np.ndarray:
    """Fractional coordinates ``(frames, atoms, 3)`` of atoms on a random walk, wrapped into [0, 1) as VASP writes them.

    Each atom starts at a random place and moves by Gaussian steps of ``step_A`` Å (in a cubic cell of
    ``cell_A`` Å); seeded, so the files are the same from run to run.
    """
    rng = np.random.default_rng(seed)
    atoms = sum(counts)
    walk = rng.normal(0.0, step_A / cell_A, (frames, atoms, 3))
    walk[0] = rng.uniform(0.0, 1.0, (atoms, 3))
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
    out += ['  </separator>\n </parameters>\n <atominfo>\n']
    out += [f'  <atoms>{atoms:8d} </atoms>\n  <types>{len(counts):8d} </types>\n']
    out += ['  <array name="atoms" >\n   <dimension dim="1">ion</dimension>\n']
    out += ['   <field type="string">element</field>\n   <field type="int">atomtype</field>\n   <set>\n']
    for kind, (name, count) in enumerate(zip(species, counts, strict=True)):
        out += [f'    <rc><c>{name:<2}</c><c>{kind + 1:4d}</c></rc>\n'] * count
    out += ['   </set>\n  </array>\n  <array name="atomtypes" >\n   <dimension dim="1">type</dimension>\n']
    out += ['   <field type="int">atomspertype</field>\n   <field type="string">element</field>\n']
    out += ['   <field>mass</field>\n   <field>valence</field>\n']
    out += ['   <field type="string">pseudopotential</field>\n   <set>\n']
    for name, count in zip(species, counts, strict=True):
        out += [f'    <rc><c>{count:4d}</c><c>{name:<2}</c><c>      1.00000000</c><c>      1.00000000</c>']
        out += [f'<c>  PAW_PBE {name} 01Jan2000                  </c></rc>\n']
    out += ['   </set>\n  </array>\n </atominfo>\n']
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
        '   NFREE  =      0    steps in history (QN), initial steepest desc. (CG)',
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
