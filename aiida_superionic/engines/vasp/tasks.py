"""The VASP engine's zero-temperature tasks: the INCAR of each task, the k-point mesh, electron counts and units.

No process here, only the choices, written (and tested) once: ``VaspTaskWorkChain`` builds every
``VaspCalculation`` from :func:`task_incar`, its k-points from :func:`kpoint_mesh`, NELECT from
:func:`zval_from_potcar` and :func:`electron_count`, and turns VASP's numbers into the task interface's with
:func:`stress_gpa`, :func:`total_energy`, :func:`band_gap` and :func:`elastic_tensors_gpa`.

Units: energies in eV, lengths in Å, reciprocal lengths in Å⁻¹ **with** the factor 2π (|b| = 2π/a for a cubic
cell, as VASP's KSPACING), forces in eV/Å, stresses in GPa (positive in tension) unless named ``_kbar``.
"""

from __future__ import annotations

import math
import re

import numpy as np

#: Electronic INCAR tags of the tasks unless the user gives others (lower case, as aiida-vasp writes them).
#: Zero-temperature quantities need accurate forces and stresses: PREC = Accurate, projections in reciprocal
#: space (LREAL = .FALSE.), EDIFF = 1e-6 eV. ALGO = Normal is the robust Davidson; the SCF handler climbs from
#: there (``engines.vasp.stronger_electronic_settings``). Gaussian smearing of 0.05 eV suits the insulators the
#: plugin is for and is what VASP recommends when the character of the system is not known. ENCUT has no
#: default here: it belongs to the POTCARs and the study (the paper used 750 eV), give it in ``vasp.incar``.
#: NELM is not set here either (VASP's own 60 for a task built by hand): the protocols give it (``engines.yaml``,
#: 120), and a second default in Python with another value would be a second answer to one question.
DEFAULT_TASK_ELECTRONIC_INCAR = {
    'prec': 'Accurate',
    'algo': 'Normal',
    'ediff': 1.0e-6,
    'nelmin': 4,
    'ismear': 0,
    'sigma': 0.05,
    'lreal': False,
    'lwave': False,
    'lcharg': False,
}

#: Added to the defaults for ``dfpt`` (still under the user's tags): the linear response needs a tighter
#: ground state (phonopy's VASP example for Born charges uses EDIFF = 1e-8), and LPEAD = .TRUE. computes
#: the derivative of the orbitals with respect to k by finite differences, which avoids VASP's
#: LRF_COMMUTATOR errors (pymatgen's ``MPStaticSet(lepsilon=True)`` sets it for the same reason).
DFPT_ELECTRONIC_INCAR = {'ediff': 1.0e-8, 'lpead': True}

#: The tags the workchain sets itself; a user giving one in ``vasp.incar`` is refused, with where it comes from.
TASK_TAGS = {
    'ibrion': 'the task (static −1, relax 2, dfpt 8, elastic 6)',
    'nsw': 'the task (static 0, relax `parameters.max_steps`, dfpt and elastic 1)',
    'isif': 'the task (2; relax with `parameters.relax_cell` and elastic 3)',
    'ediffg': '`parameters.fmax_eV_A` (EDIFFG = −fmax)',
    'nfree': '`parameters.nfree` of the task `elastic`',
    'potim': "`parameters.potim` of the task `elastic` (the other tasks keep VASP's default)",
    'lepsilon': 'the task `dfpt`',
    'lcalceps': 'the task `dfpt` (LEPSILON)',
    'nelect': '`vasp.charge` (NELECT = Σ ZVAL − charge)',
    'kspacing': '`vasp.kpoints_spacing` (a KPOINTS file is always written)',
    'kgamma': '`vasp.kpoints_spacing` (the meshes are Γ-centred)',
}

#: k-point spacing (Å⁻¹, 2π included) used when neither ``vasp.kpoints`` nor ``vasp.kpoints_spacing`` is given:
#: dense, as the paper's zero-temperature work asks (VASP's own KSPACING default is 0.5).
DEFAULT_KPOINTS_SPACING = 0.2

#: A cell relaxation whose volume changed by more than this fraction in its last calculation is run once
#: more from its final cell: VASP keeps the plane-wave basis of the start cell (Pulay stress).
PULAY_VOLUME_TOLERANCE = 0.01

#: An occupancy (per spin channel, vasprun.xml's 0 to 1) at or above this makes a state occupied.
OCCUPIED = 0.5

#: kbar (VASP's stress unit) in GPa.
KBAR_IN_GPA = 0.1

#: VASP's order of the strain and stress components in OUTCAR's elastic moduli ("Direction XX YY ZZ XY YZ
#: ZX") and the Voigt order of the project (xx, yy, zz, yz, xz, xy): the Voigt component i is VASP's
#: ``VASP_TO_VOIGT[i]`` (yz is VASP's YZ, 4; xz is ZX, 5; xy is XY, 3).
VASP_ELASTIC_ORDER = ('XX', 'YY', 'ZZ', 'XY', 'YZ', 'ZX')
VASP_TO_VOIGT = (0, 1, 2, 4, 5, 3)

#: The elastic moduli blocks of OUTCAR as parsevasp's ``Outcar.get_elastic_moduli`` names them, and the arrays
#: of the task's ``elastic_tensor`` output they become: "TOTAL ELASTIC MODULI" (rigid ions plus the ionic
#: relaxation: the relaxed-ion tensor) and "SYMMETRIZED ELASTIC MODULI" (rigid, i.e. clamped, ions). The
#: unsymmetrised rigid-ion block ("ELASTIC MODULI  (kBar)", parsevasp's ``non_symmetrized``) is not kept.
ELASTIC_MODULI_BLOCKS = {
    'total': 'elastic_tensor_GPa',
    'symmetrized': 'clamped_ion_elastic_tensor_GPa',
}


def forbidden_task_tags(incar: dict) -> list[str]:
    """The tags of ``incar`` that the workchain sets itself (:data:`TASK_TAGS`), upper case, sorted."""
    return sorted(key.upper() for key in incar if key.lower() in TASK_TAGS)


#: The loosest EDIFF (eV) of the tasks that differentiate the ground state: a linear response and VASP's own
#: finite differences need it tighter than a relaxation does. A protocol's (or the user's) EDIFF is tightened
#: to it for these tasks, never loosened: one EDIFF in ``vasp.incar`` serves every task of a workchain.
LOOSEST_EDIFF = {'dfpt': 1.0e-8, 'elastic': 1.0e-7}


def task_electronic_incar(task: str, user_incar: dict | None) -> dict:
    """The electronic tags of ``task``: :data:`DEFAULT_TASK_ELECTRONIC_INCAR` (and :data:`DFPT_ELECTRONIC_INCAR`
    for ``dfpt``) with the user's tags over them, keys lower case; EDIFF at most :data:`LOOSEST_EDIFF`."""
    defaults = {**DEFAULT_TASK_ELECTRONIC_INCAR, **(DFPT_ELECTRONIC_INCAR if task == 'dfpt' else {})}
    incar = {**defaults, **{key.lower(): value for key, value in (user_incar or {}).items()}}
    if task in LOOSEST_EDIFF:
        incar['ediff'] = min(float(incar.get('ediff', LOOSEST_EDIFF[task])), LOOSEST_EDIFF[task])
    return incar


def task_incar(
    task: str,
    electronic: dict,
    *,
    relax_cell: bool = False,
    fmax_eV_A: float | None = None,
    max_steps: int | None = None,
    nfree: int | None = None,
    potim: float | None = None,
    nelect: float | None = None,
) -> dict:
    """The INCAR of one calculation of ``task``: the electronic tags, then the task's tags (lower case).

    - ``static``: IBRION = −1, NSW = 0, ISIF = 2 (the stress is computed).
    - ``relax``: IBRION = 2 (conjugate gradient), ISIF = 2 (ions) or 3 (ions and cell, ``relax_cell``),
      NSW = ``max_steps``, EDIFFG = −``fmax_eV_A`` (negative: VASP stops when every force is below |EDIFFG|,
      in eV/Å).
    - ``dfpt``: LEPSILON = .TRUE. with IBRION = 8 and NSW = 1 (what VASP needs for IBRION = 7/8, as in
      pymatgen's ``MPStaticSet(lepsilon=True)``), ISIF = 2. LEPSILON alone gives the Born charges and the
      ion-clamped ε∞; IBRION = 8 adds the ionic response (ε_ion, reported) from the Γ-point force constants,
      using the symmetry to displace only inequivalent atoms (IBRION = 7 displaces every atom, for the same
      result at a higher cost).
    - ``elastic``: IBRION = 6 with ISIF = 3, NSW = 1, NFREE = ``nfree``, POTIM = ``potim``: VASP's own finite
      differences (VASP wiki, IBRION; VASP ≥ 5.1). The reference cell, the symmetry-inequivalent ionic
      displacements of ±POTIM Å (the Γ-point force constants) and six lattice distortions of ±POTIM in strain
      (with NFREE = 2; NFREE = 4 adds ±2 POTIM), at fixed plane-wave basis. From the stresses VASP prints the
      clamped-ion moduli ("SYMMETRIZED ELASTIC MODULI"), the ionic relaxation contribution from the internal
      strain and the force constants, and their sum ("TOTAL ELASTIC MODULI": the relaxed-ion tensor). ISIF ≥ 3 is
      what makes VASP distort the cell; NSW = 1 is what IBRION = 5–8 need, as for ``dfpt``.

    :param electronic: the electronic tags (defaults merged with the user's), without any of :data:`TASK_TAGS`.
    :param nelect: NELECT, set only for a charged cell (VASP's default is the neutral count).
    """
    incar = dict(electronic)
    if task == 'static':
        incar.update({'ibrion': -1, 'nsw': 0, 'isif': 2})
    elif task == 'relax':
        if fmax_eV_A is None or max_steps is None:
            raise ValueError('a relaxation needs `fmax_eV_A` and `max_steps`')
        incar.update({'ibrion': 2, 'nsw': int(max_steps), 'isif': 3 if relax_cell else 2, 'ediffg': -abs(fmax_eV_A)})
    elif task == 'dfpt':
        incar.update({'ibrion': 8, 'nsw': 1, 'isif': 2, 'lepsilon': True})
    elif task == 'elastic':
        if nfree is None or potim is None:
            raise ValueError('the elastic task needs `nfree` and `potim`')
        incar.update({'ibrion': 6, 'nsw': 1, 'isif': 3, 'nfree': int(nfree), 'potim': float(potim)})
    else:
        raise ValueError(f'unknown task {task!r}')
    if nelect is not None:
        incar['nelect'] = float(nelect)
    return incar


def reciprocal_lengths(cell: np.ndarray) -> np.ndarray:
    """|b₁|, |b₂|, |b₃| (Å⁻¹, 2π included) of the cell whose lattice vectors are the rows of ``cell`` (Å)."""
    reciprocal = 2.0 * math.pi * np.linalg.inv(np.asarray(cell, dtype=float)).T
    return np.linalg.norm(reciprocal, axis=1)


def kpoint_mesh(cell: np.ndarray, spacing: float) -> list[int]:
    """The k-point mesh whose points are at most ``spacing`` Å⁻¹ (2π included) apart along each reciprocal vector.

    N_i = max(1, ⌈|b_i| / spacing⌉), the rule of VASP's KSPACING (and of aiida-quantumespresso's
    ``kpoints_distance``). aiida-vasp writes a mesh as a Γ-centred KPOINTS file. aiida-vasp's own
    ``kpoints_spacing`` is in units of 2π Å⁻¹ instead: its 0.05 is 0.314 here.
    """
    if not spacing > 0:
        raise ValueError(f'the k-point spacing must be positive, got {spacing}')
    return [max(1, math.ceil(length / spacing - 1e-8)) for length in reciprocal_lengths(cell)]


_ZVAL = re.compile(r'ZVAL\s*=\s*([-+0-9.Ee]+)')


def zval_from_potcar(text: str) -> float:
    """The valence ZVAL (electrons) of one POTCAR: the ``ZVAL =`` of its PSCTR block, else its second line.

    The second line of a POTCAR is the valence too; when both are there they must agree (``ValueError``
    otherwise, or when neither is found).
    """
    lines = text.splitlines()
    second_line = None
    if len(lines) > 1:
        try:
            second_line = float(lines[1].split()[0])
        except (IndexError, ValueError):
            second_line = None
    match = _ZVAL.search(text)
    keyword = float(match.group(1)) if match else None
    if keyword is None and second_line is None:
        raise ValueError('no ZVAL in the POTCAR (neither `ZVAL =` nor a number on its second line)')
    if keyword is not None and second_line is not None and abs(keyword - second_line) > 1e-6:
        raise ValueError(f'the POTCAR says ZVAL = {keyword} but its second line {second_line}')
    return keyword if keyword is not None else second_line


def electron_count(zval_per_site: list[float], charge: float = 0.0) -> float:
    """NELECT of a cell of net charge ``charge`` (e): Σ ZVAL over the atoms − charge.

    A positive charge (a cation vacancy's V⁺, say) removes electrons; VASP adds the compensating uniform
    background itself.
    """
    return float(sum(zval_per_site)) - float(charge)


def stress_gpa(stress_kbar: np.ndarray) -> np.ndarray:
    """VASP's stress (kbar, positive in compression: vasprun.xml's ``stress`` and OUTCAR's ``in kB``) in GPa,
    positive in tension: σ = −0.1 × the VASP value.

    The convention of ASE (``ase.io.vasp`` reads vasprun.xml's ``stress`` as ``−0.1 GPa`` × the values),
    pymatgen's elasticity fitting and atomate/emmet (``-0.1 * Stress(vasprun.ionic_steps[-1]['stress'])``:
    "-0.1 to convert to GPa from kBar, and the minus sign to flip the stress direction from compressive as
    positive (in vasp) to tensile as positive").
    """
    return -KBAR_IN_GPA * np.asarray(stress_kbar, dtype=float)


def elastic_moduli_gpa(moduli_kbar) -> np.ndarray:
    """One 6 × 6 block of VASP's elastic moduli (OUTCAR, kbar, VASP's order) as the project's Voigt C in GPa.

    - Units: × 0.1 (kbar → GPa).
    - Order: VASP prints the rows and columns as XX YY ZZ XY YZ ZX (:data:`VASP_ELASTIC_ORDER`); the project's
      Voigt order is xx yy zz yz xz xy. C[i, j] = M[p(i), p(j)] with p = :data:`VASP_TO_VOIGT` = (0, 1, 2, 4, 5,
      3): VASP's C44 (its XY row) is C66, its C55 (YZ) is C44, its C66 (ZX) is C55. The permutation of
      S. Singh and A. H. Romero's MechElastic ("In VASP: Columns and rows are listed as: 1, 2, 3, 6, 4, 5").
    - Sign: none. VASP's finite differences take minus the derivative of its stress (positive in compression:
      finite_diff.F, ``SUM_SIF = -(DISPL_SIF(1) - DISPL_SIF(2)) / (2 STEP)``), so the moduli it prints are the
      stiffness, positive for a stable crystal, unlike its stress (:func:`stress_gpa` flips that one).
      pymatgen's ``Outcar.read_elastic_tensor`` reads the "TOTAL ELASTIC MODULI (kBar)" table as printed (kbar,
      VASP's order, no sign change: its test reads C11 = +1986.3 kbar for Li₂O). The −0.1 of pymatgen's
      ``ElasticTensor.from_independent_strains(vasp=True)`` and of atomate/emmet's elasticity (``-0.1 *
      Stress(...)``) converts *stresses* of strained cells, not these moduli. Scripts reading the block (jasp's
      ``get_elastic_moduli``: "× 0.1, convert kbar to GPa"; MechElastic: reorder and divide by 10) only scale.
    """
    moduli = np.asarray(moduli_kbar, dtype=float)
    if moduli.shape != (6, 6):
        raise ValueError(f"VASP's elastic moduli are a 6 × 6 table, got the shape {moduli.shape}")
    order = list(VASP_TO_VOIGT)
    return KBAR_IN_GPA * moduli[np.ix_(order, order)]


def elastic_tensors_gpa(elastic_moduli: dict | None) -> dict[str, np.ndarray]:
    """The arrays of the task's ``elastic_tensor`` output from aiida-vasp's ``misc['elastic_moduli']``.

    aiida-vasp's ``elastic_moduli`` quantity (``include_quantity``) is parsevasp's
    ``Outcar.get_elastic_moduli()``: ``non_symmetrized`` ("ELASTIC MODULI  (kBar)", rigid ions),
    ``symmetrized`` ("SYMMETRIZED ELASTIC MODULI (kBar)", rigid ions) and ``total`` ("TOTAL ELASTIC MODULI
    (kBar)", rigid ions plus the ionic relaxation), each 6 × 6 in kbar or None (parsevasp also leaves a
    ``non-symmetrized`` key at None). Returns ``elastic_tensor_GPa`` (from ``total``) and
    ``clamped_ion_elastic_tensor_GPa`` (from ``symmetrized``) for those present, converted by
    :func:`elastic_moduli_gpa`.
    """
    tensors = {}
    for block, name in ELASTIC_MODULI_BLOCKS.items():
        moduli = (elastic_moduli or {}).get(block)
        if moduli is not None and len(moduli):
            tensors[name] = elastic_moduli_gpa(moduli)
    return tensors


def total_energy(total_energies: dict) -> tuple[float, str]:
    """The total energy of a calculation (eV) from aiida-vasp's ``misc['total_energies']``, and where it came from.

    The energy is VASP's ``energy(sigma→0)`` (vasprun.xml's ``e_0_energy``, aiida-vasp's
    ``energy_extrapolated``): the smearing's entropy term extrapolated away, the energy that differences
    (vacancy formation) are taken of, and pymatgen's ``Vasprun.final_energy``. The forces and the stress are
    derivatives of the free energy F = E − TS (``e_fr_energy``, ``energy_free``) instead; for the insulators
    of the plugin the two differ by far less than a meV. Some VASP versions write a wrong ``e_0_energy`` in
    the ionic step's block (VASP forum, topic 16942); as pymatgen does, when the free energy plus the
    last electronic step's (E0 − F) differs from it by more than 1e-7 eV, that sum is used.
    """
    energy = float(total_energies['energy_extrapolated'])
    needed = ('energy_free', 'energy_extrapolated_electronic', 'energy_free_electronic')
    if all(total_energies.get(key) is not None for key in needed):
        corrected = float(total_energies['energy_free']) + (
            float(total_energies['energy_extrapolated_electronic']) - float(total_energies['energy_free_electronic'])
        )
        if abs(round(corrected, 8) - energy) > 1e-7:
            return round(corrected, 8), 'energy(sigma→0) from the free energy and the last electronic step'
    return energy, 'energy(sigma→0)'


def band_gap(eigenvalues: np.ndarray, occupations: np.ndarray) -> dict | None:
    """The Kohn–Sham band gap (eV) across the k-points (and spins) of a calculation, or None without empty states.

    ``eigenvalues`` and ``occupations`` are ``(k-points, bands)`` or ``(spins, k-points, bands)``, occupations
    per spin channel from 0 to 1 as vasprun.xml writes them. A state is occupied when its occupancy is at
    least :data:`OCCUPIED`. The result:

    - ``band_gap``: the fundamental gap, lowest empty minus highest occupied eigenvalue over all k-points
      and both spins (indirect when they are at different k-points); **0 for a metal**, i.e. when a band
      crosses the Fermi level (the number of occupied bands changes from one k-point to another) or the
      edges overlap;
    - ``direct_gap``: the smallest gap at one k-point;
    - ``vbm``, ``cbm`` (eV), ``vbm_kpoint``, ``cbm_kpoint`` (indices into the k-points), ``is_metal``.

    Only the k-points of the calculation are sampled: a band edge off the mesh makes the gap too large.
    pymatgen and aiida-vasp count a state as occupied above 1e-8 instead, which turns the Fermi-level
    crossing of a metal into a small positive "gap"; the rule here reports such a system as a metal.
    """
    energies = np.asarray(eigenvalues, dtype=float)
    occupancies = np.asarray(occupations, dtype=float)
    if energies.ndim == 2:
        energies, occupancies = energies[None], occupancies[None]
    occupied = occupancies >= OCCUPIED
    if occupied.all() or not occupied.any():
        return None
    occupied_bands = occupied.sum(axis=2)  # (spins, k-points)
    crossing = bool(np.any(occupied_bands != occupied_bands[:, :1]))
    valence = np.where(occupied, energies, -np.inf)
    conduction = np.where(occupied, np.inf, energies)
    vbm_per_k = valence.max(axis=(0, 2))  # (k-points,)
    cbm_per_k = conduction.min(axis=(0, 2))
    vbm_kpoint, cbm_kpoint = int(np.argmax(vbm_per_k)), int(np.argmin(cbm_per_k))
    vbm, cbm = float(vbm_per_k[vbm_kpoint]), float(cbm_per_k[cbm_kpoint])
    finite = np.isfinite(vbm_per_k) & np.isfinite(cbm_per_k)
    direct = float(np.min(cbm_per_k[finite] - vbm_per_k[finite])) if finite.any() else math.inf
    is_metal = crossing or cbm <= vbm
    return {
        'band_gap': 0.0 if is_metal else cbm - vbm,
        'direct_gap': max(direct, 0.0) if not is_metal else 0.0,
        'vbm': vbm,
        'cbm': cbm,
        'vbm_kpoint': vbm_kpoint,
        'cbm_kpoint': cbm_kpoint,
        'is_metal': is_metal,
    }


def volume_change(volume_start: float, volume_end: float) -> float:
    """The relative volume change V_end / V_start − 1 of a calculation."""
    return float(volume_end) / float(volume_start) - 1.0


def needs_basis_refresh(volume_start: float, volume_end: float, tolerance: float = PULAY_VOLUME_TOLERANCE) -> bool:
    """Whether a converged cell relaxation must run once more from its final cell (Pulay stress).

    VASP keeps the plane waves of the start cell for the whole run; when the cell has changed by more than
    ``tolerance`` in volume the basis no longer has the cut-off asked for at the final cell, and the stress
    there is biased (the VASP wiki's advice: restart from CONTCAR).
    """
    return abs(volume_change(volume_start, volume_end)) > tolerance


def task_parser_settings(task: str, user_settings: dict | None) -> dict:
    """The ``settings`` of a task's ``VaspCalculation``: the user's, with the parser settings a task needs.

    - ``energy_type``: the σ→0 and free energies (:func:`total_energy` uses both);
    - ``include_node``: ``bands`` for ``static`` (the eigenvalues and occupations of :func:`band_gap`);
    - ``include_quantity``: ``elastic_moduli`` for ``elastic`` (OUTCAR's moduli, :func:`elastic_tensors_gpa`);
    - ``include_node``: ``trajectory`` for ``elastic``: every configuration of vasprun.xml, because aiida-vasp's
      ``misc`` has the last one's forces, stress and energy, which for IBRION = 6 is the last distortion; the
      task's are the first one's, the undistorted input;
    - ``check_completeness`` False: a missing CONTCAR or an output node that cannot be made (no eigenvalues)
      does not fail the calculation; what a task needs is checked by the workchain, which says what is missing;
    - ``check_ionic_convergence`` False for ``dfpt`` and ``elastic``: NSW = 1 is not a relaxation.
    """
    settings = dict(user_settings or {})
    parser = dict(settings.get('parser_settings', {}))
    parser['energy_type'] = sorted({*parser.get('energy_type', []), 'energy_extrapolated', 'energy_free'})
    if task == 'static':
        parser['include_node'] = sorted({*parser.get('include_node', []), 'bands'})
    if task == 'elastic':
        parser['include_quantity'] = sorted({*parser.get('include_quantity', []), 'elastic_moduli'})
        parser['include_node'] = sorted({*parser.get('include_node', []), 'trajectory'})
    parser['check_completeness'] = False
    if task in ('dfpt', 'elastic'):
        parser['check_ionic_convergence'] = False
    settings['parser_settings'] = parser
    return settings
