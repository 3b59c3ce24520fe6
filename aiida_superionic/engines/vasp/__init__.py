"""The VASP engine: the INCAR of an MD piece, the Nosé mass, and the electronic fallbacks of the restart handlers.

No process here, only the choices, so that they are written (and tested) once: ``VaspMdSegmentWorkChain``
builds every ``VaspMdCalculation`` from :func:`md_incar`, and its SCF handler climbs
:func:`stronger_electronic_settings`.

Units: temperatures in K, times in fs, lengths in Å, masses in amu, energies in eV.
"""

from __future__ import annotations

import math

import numpy as np

#: Electronic INCAR tags used unless the user gives others (lower case, as aiida-vasp writes them).
#: ``ALGO = Fast`` and ``MAXMIX = 40`` (keep the Broyden mixer's history from one ionic step to the next) are
#: what VASP recommends for MD; ``NELMIN = 4`` stops a self-consistency that looks converged after two steps
#: from being trusted; no WAVECAR or CHGCAR is written (a continuation starts from positions and velocities).
DEFAULT_ELECTRONIC_INCAR = {
    'prec': 'Normal',
    'algo': 'Fast',
    'ediff': 1.0e-5,
    'nelm': 60,
    'nelmin': 4,
    'ismear': 0,
    'sigma': 0.05,
    'lreal': 'Auto',
    'maxmix': 40,
    'lwave': False,
    'lcharg': False,
}

#: The MD tags the workchain sets itself from ``parameters``; a user giving one in ``vasp.incar`` is refused.
MD_TAGS = {
    'ibrion': 'IBRION = 0 (molecular dynamics)',
    'mdalgo': 'MDALGO = 2 (Nosé–Hoover thermostat)',
    'isym': 'ISYM = 0 (no symmetry in MD)',
    'isif': 'ISIF = 2 (fixed cell)',
    'nsw': '`parameters.steps` (and `equilibration_steps`, and what remains after a restart)',
    'potim': '`parameters.timestep_fs`',
    'nblock': '`parameters.write_interval`',
    'kblock': 'NSW / NBLOCK (so that VASP does not reset NBLOCK)',
    'tebeg': '`parameters.temperature_K`',
    'teend': '`parameters.temperature_K`',
    'smass': '`parameters.thermostat_timescale_fs` (see `nose_smass`)',
}

#: VASP's electronic algorithms from the least to the most robust; the SCF handler moves one step up at a time.
ALGO_LADDER = ('veryfast', 'fast', 'normal', 'all')

#: NELM values the SCF handler raises NELM to, in order.
NELM_LADDER = (60, 120, 200)

#: k_B in eV/K (CODATA 2018) and eV·fs² expressed in amu·Å² (1 eV = 1.602176634e-19 J, 1 amu = 1.66053906660e-27 kg).
BOLTZMANN_EV_K = 8.617333262e-5
EV_FS2_IN_AMU_A2 = 1.602176634e-19 * 1.0e-30 / (1.66053906660e-27 * 1.0e-20)


def degrees_of_freedom(atoms: int) -> int:
    """The degrees of freedom of an MD without constraints: 3N − 3 (VASP keeps the centre of mass fixed)."""
    return 3 * atoms - 3


def nose_mass(atoms: int, temperature_K: float, timescale_fs: float) -> float:
    """The Nosé mass Q = g k_B T τ² in amu·Å², with g = 3N − 3 and τ the thermostat timescale (fs).

    The thermostat then oscillates with the period P = 2π √(Q / (2 g k_B T)) = π √2 τ ≈ 4.44 τ (Nosé,
    J. Chem. Phys. 81, 511, 1984), whatever g: the period of the first thermostat of ASE's
    ``NoseHooverChainNVT`` (the ASE engine; Q₁ = 3N k_B T τ² for its 3N degrees of freedom) with
    ``tdamp = τ``, so both engines couple to the heat bath alike. g = 3N − 3 is what VASP counts.
    """
    return degrees_of_freedom(atoms) * BOLTZMANN_EV_K * temperature_K * timescale_fs**2 * EV_FS2_IN_AMU_A2


def nose_period_fs(timescale_fs: float) -> float:
    """The period (fs) of the Nosé oscillation of :func:`nose_mass`: π √2 τ."""
    return math.pi * math.sqrt(2.0) * timescale_fs


def nose_smass(atoms: int, temperature_K: float, timescale_fs: float, cell: np.ndarray) -> float:
    """SMASS, VASP's Nosé mass, for :func:`nose_mass`.

    VASP integrates in fractional coordinates and reads SMASS in amu with lengths in units of the first
    lattice vector, so SMASS = Q / |a₁|² (the conversion of the widely used estimate by Q. Zheng). VASP
    prints the resulting period in OUTCAR (``period in steps``); ``parse_vasp_md`` records it, and the segment
    workchain reports it next to :func:`nose_period_fs` so that a mismatch is visible.
    SMASS = 0 would instead give VASP's default Nosé mass, a period of 40 time steps.
    """
    length = float(np.linalg.norm(np.asarray(cell, dtype=float)[0]))
    return nose_mass(atoms, temperature_K, timescale_fs) / length**2


def md_incar(
    electronic: dict,
    *,
    temperature_K: float,
    timestep_fs: float,
    steps: int,
    nblock: int,
    smass: float,
) -> dict:
    """The INCAR of one MD calculation: the electronic tags, then the MD tags (lower case).

    :param electronic: the electronic tags (defaults merged with the user's), without any of :data:`MD_TAGS`.
    :param steps: NSW, a multiple of ``nblock`` so that CONTCAR's state is the last XDATCAR frame.
    :param nblock: NBLOCK, the ionic steps between two XDATCAR frames; KBLOCK is NSW / NBLOCK.
    """
    if steps % nblock:
        raise ValueError(f'NSW = {steps} is not a multiple of NBLOCK = {nblock}')
    return {
        **electronic,
        'ibrion': 0,
        'mdalgo': 2,
        'isym': 0,
        'isif': 2,
        'nsw': int(steps),
        'potim': float(timestep_fs),
        'nblock': int(nblock),
        'kblock': int(steps // nblock),
        'tebeg': float(temperature_K),
        'teend': float(temperature_K),
        'smass': float(smass),
    }


def forbidden_md_tags(incar: dict) -> list[str]:
    """The tags of ``incar`` that the workchain sets itself (:data:`MD_TAGS`), upper case, sorted."""
    return sorted(key.upper() for key in incar if key.lower() in MD_TAGS)


def electronic_incar(user_incar: dict | None) -> dict:
    """:data:`DEFAULT_ELECTRONIC_INCAR` with the user's tags over it, keys lower case, string values as given."""
    return {**DEFAULT_ELECTRONIC_INCAR, **{key.lower(): value for key, value in (user_incar or {}).items()}}


def stronger_electronic_settings(electronic: dict) -> tuple[dict, str] | None:
    """The next, more robust electronic settings after a self-consistency that hit NELM, or None when exhausted.

    One step of :data:`ALGO_LADDER` up (VeryFast and Fast go to Normal, Normal to All) and NELM to the next
    value of :data:`NELM_LADDER`; returns the new tags and a sentence saying what changed. None once ALGO is
    All and NELM is at the top of the ladder: nothing more to try without looking at the system.
    """
    algo = str(electronic.get('algo', 'Normal')).strip().lower()
    nelm = int(electronic.get('nelm', 60))
    changes = {}
    if algo in ('veryfast', 'fast'):
        changes['algo'] = 'Normal'
    elif algo == 'normal':
        changes['algo'] = 'All'
    higher = [value for value in NELM_LADDER if value > nelm]
    if higher:
        changes['nelm'] = higher[0]
    if not changes:
        return None
    described = ', '.join(f'{key.upper()} {electronic.get(key, "default")} → {value}' for key, value in changes.items())
    return {**electronic, **changes}, described


def piece_nblock(record_interval: int, first_step: int) -> int:
    """NBLOCK of a calculation that starts at ``first_step`` of a stage recorded every ``record_interval`` steps.

    The frames wanted are at the multiples of ``record_interval`` counted from the stage's start; a
    calculation starting at ``first_step`` writes its own multiples of NBLOCK. gcd(record_interval,
    first_step) divides both, so every wanted frame is written (``parse_vasp_md`` drops the others); it is
    ``record_interval`` itself when the calculation starts on a recorded frame.
    """
    return math.gcd(int(record_interval), int(first_step)) if first_step else int(record_interval)


def is_gamma_only(kpoints) -> bool:
    """Whether a ``KpointsData`` holds the Γ point only (a 1×1×1 mesh without offset, or the single point 0 0 0)."""
    try:
        mesh, offset = kpoints.get_kpoints_mesh()
    except AttributeError:
        points = np.asarray(kpoints.get_kpoints(), dtype=float)
        return points.shape[0] == 1 and bool(np.allclose(points, 0.0))
    return list(mesh) == [1, 1, 1] and bool(np.allclose(offset, 0.0))
