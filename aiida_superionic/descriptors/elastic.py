"""Mechanical–elastic descriptors (the 13 keys of :mod:`.keys`) from the elastic tensor and the density.

Pure numpy (no AiiDA). Elastic constants in GPa, density in g/cm³, sound velocities in km/s.
The elastic tensor is the 6×6 Voigt matrix C_ij with the Voigt order xx, yy, zz, yz, xz, xy
(indices 1–6 below; C44 is the yz shear, C55 xz, C66 xy), i.e. the convention of pymatgen's
``ElasticTensor.voigt`` and of the Materials Project.

**Averages.** B and G are the Voigt–Reuss–Hill (VRH) averages: the Voigt bounds from C,

* B_V = [(C11 + C22 + C33) + 2 (C12 + C13 + C23)] / 9,
* G_V = [(C11 + C22 + C33) − (C12 + C13 + C23) + 3 (C44 + C55 + C66)] / 15,

the Reuss bounds from the compliance S = C⁻¹ (Voigt compliance, shear terms carrying the usual
factors 2 and 4, which plain matrix inversion of the Voigt C gives),

* B_R = 1 / [(S11 + S22 + S33) + 2 (S12 + S13 + S23)],
* G_R = 15 / [4 (S11 + S22 + S33) − 4 (S12 + S13 + S23) + 3 (S44 + S55 + S66)],

and B = (B_V + B_R) / 2, G = (G_V + G_R) / 2. Everything else follows the definitions of
docs/source/topics/descriptors.md:
E = 9BG / (3B + G), ν = (3B − 2G) / (2 (3B + G)), λ = B − 2G/3, σ (P-wave) = B + 4G/3,
κ (Pugh) = G/B, H_V = 2 (κ² G)^0.585 − 3 (Chen, Niu, Li & Li, *Intermetallics* **19**, 1275
(2011); an empirical fit that goes negative for soft, ductile solids, κ² G ≲ 2.0 GPa, and is
reported as it comes), the Cauchy pressure P_c = mean(C12 − C44, C13 − C55, C23 − C66)
(= C12 − C44 for a cubic crystal), and the isotropic sound velocities

* v_l = sqrt((B + 4G/3) / ρ), v_t = sqrt(G / ρ), v_r = v_l / v_t,
* the Debye mean ⟨v⟩ = [(1/3) (1/v_l³ + 2/v_t³)]^(−1/3).

Units of the velocities: 1 GPa / (1 g/cm³) = 10⁹ Pa / 10³ kg/m³ = 10⁶ m²/s² = 1 (km/s)², so
sqrt(modulus in GPa / density in g/cm³) is a velocity in km/s with no further factor.

**Mechanical stability** (:func:`check_mechanical_stability`): the tensor must be positive
definite (all eigenvalues of the 6×6 Voigt C > 0: the elastic energy of every small strain is
positive), and, for a cubic, hexagonal, tetragonal or orthorhombic crystal (named or recognised
from the pattern of C in its standard setting), the Born criteria of that system (Mouhat &
Coudert, *Phys. Rev. B* **90**, 224104 (2014)) are checked as well, so that a failure names the
physical criterion (e.g. ``C11 − C12 > 0``: the tetragonal shear) and not only an eigenvalue.
For the tensor forms of those systems the Born criteria are equivalent to positive definiteness;
for the other systems (trigonal, monoclinic, triclinic) the general eigenvalue test is the
criterion. An unstable tensor has no meaningful VRH moduli (the Reuss bound may be negative or
infinite), so :func:`mechanical_descriptors` refuses it unless ``allow_unstable=True``.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .keys import MECHANICAL_ELASTIC_KEYS

#: A modulus in GPa divided by a density in g/cm³ is a squared velocity in (km/s)²:
#: 1 GPa / (1 g/cm³) = 1e9 Pa / 1e3 kg m⁻³ = 1e6 m² s⁻² = 1 (km/s)².
GPA_PER_G_CM3_TO_KM2_PER_S2 = 1.0

#: Chen et al. (2011) hardness model H_V = A (κ² G)^EXPONENT − OFFSET, with G in GPa.
CHEN_PREFACTOR = 2.0
CHEN_EXPONENT = 0.585
CHEN_OFFSET_GPa = 3.0

#: Largest |C_ij − C_ji| accepted, relative to max |C_ij|; within it C is replaced by (C + Cᵀ)/2
#: (with a warning when the asymmetry is above round-off), beyond it the tensor is refused.
DEFAULT_SYMMETRY_TOLERANCE = 1.0e-2

#: Tolerance, relative to max |C_ij|, for recognising (or confirming) the pattern of a crystal
#: system in C (equal and zero elements of the standard setting).
DEFAULT_PATTERN_TOLERANCE = 1.0e-2

#: Crystal systems with their own Born criteria; the others get the eigenvalue test only.
BORN_SYSTEMS = ('cubic', 'hexagonal', 'tetragonal', 'orthorhombic')

#: Every crystal system name accepted by ``crystal_system``.
CRYSTAL_SYSTEMS = (*BORN_SYSTEMS, 'trigonal', 'monoclinic', 'triclinic')

#: The 13 keys returned by :func:`mechanical_descriptors`, in the table's order.
MECHANICAL_DESCRIPTOR_KEYS = MECHANICAL_ELASTIC_KEYS  # the 13 keys of the table, defined once in keys.py

# Voigt-matrix elements (0-based) that vanish in the standard setting of each system with
# Born criteria: all couplings between the normal block (1–3) and the shears (4–6), and between
# different shears.
_OFF_BLOCK = [(i, j) for i in range(3) for j in range(3, 6)] + [(3, 4), (3, 5), (4, 5)]


@dataclasses.dataclass(frozen=True)
class StabilityResult:
    """The mechanical stability of an elastic tensor.

    :ivar stable: ``True`` when C is positive definite and meets the Born criteria of its system.
    :ivar reasons: one sentence per failed criterion, with the numbers (GPa); empty when stable.
    :ivar eigenvalues: eigenvalues of the symmetric 6×6 Voigt C in GPa, ascending.
    :ivar crystal_system: the system whose Born criteria were checked (given or recognised from
        the pattern of C), or ``None`` when only the general eigenvalue test applied.
    """

    stable: bool
    reasons: list[str]
    eigenvalues: np.ndarray
    crystal_system: str | None = None

    def message(self) -> str:
        """One line: the failed criteria and the eigenvalues."""
        eigenvalues = ', '.join(f'{value:.4g}' for value in self.eigenvalues)
        system = self.crystal_system or 'general (positive definiteness only)'
        criteria = '; '.join(self.reasons) if self.reasons else 'none'
        return f'criteria of {system}: failed {criteria}; eigenvalues of C (GPa): [{eigenvalues}]'


class MechanicallyUnstableError(ValueError):
    """The elastic tensor fails the mechanical stability criteria; ``stability`` holds the details."""

    def __init__(self, stability: StabilityResult):
        self.stability = stability
        super().__init__(f'mechanically unstable elastic tensor: {stability.message()}')


@dataclasses.dataclass(frozen=True)
class VrhModuli:
    """Voigt, Reuss and Voigt–Reuss–Hill bulk and shear moduli in GPa.

    :ivar bulk_voigt_GPa: B_V.
    :ivar bulk_reuss_GPa: B_R (NaN when C is singular).
    :ivar shear_voigt_GPa: G_V.
    :ivar shear_reuss_GPa: G_R (NaN when C is singular).
    :ivar bulk_GPa: B = (B_V + B_R) / 2.
    :ivar shear_GPa: G = (G_V + G_R) / 2.
    """

    bulk_voigt_GPa: float
    bulk_reuss_GPa: float
    shear_voigt_GPa: float
    shear_reuss_GPa: float
    bulk_GPa: float
    shear_GPa: float


def validate_elastic_tensor(elastic_tensor_GPa, symmetry_tolerance: float = DEFAULT_SYMMETRY_TOLERANCE) -> np.ndarray:
    """Return the elastic tensor as a symmetric 6×6 float array, or raise ``ValueError``.

    :param elastic_tensor_GPa: the 6×6 Voigt matrix C in GPa (Voigt order xx, yy, zz, yz, xz, xy).
    :param symmetry_tolerance: largest max|C − Cᵀ| / max|C| accepted. Within it the tensor is
        symmetrised as (C + Cᵀ)/2, with a ``UserWarning`` giving the asymmetry when it exceeds
        round-off (1e-8 relative); beyond it ``ValueError`` is raised.
    :raises ValueError: wrong shape, non-finite values, an all-zero tensor or an asymmetric one.
    """
    try:
        C = np.array(elastic_tensor_GPa, dtype=float)
    except (TypeError, ValueError) as exception:
        raise ValueError(f'the elastic tensor is not a numeric array: {exception}') from exception
    if C.shape != (6, 6):
        raise ValueError(f'the elastic tensor must be the 6×6 Voigt matrix in GPa, got shape {C.shape}')
    if not np.all(np.isfinite(C)):
        raise ValueError('the elastic tensor has non-finite (NaN or infinite) elements')
    scale = np.max(np.abs(C))
    if scale == 0:
        raise ValueError('the elastic tensor is zero')
    asymmetry = np.max(np.abs(C - C.T)) / scale
    if asymmetry > symmetry_tolerance:
        raise ValueError(
            f'the elastic tensor is not symmetric: max|C_ij − C_ji| = {asymmetry * scale:.4g} GPa, '
            f'{asymmetry:.2%} of max|C_ij| (tolerance {symmetry_tolerance:.2%})'
        )
    if asymmetry > 1.0e-8:
        warnings.warn(
            f'the elastic tensor was symmetrised as (C + Cᵀ)/2: max|C_ij − C_ji| = {asymmetry * scale:.4g} GPa '
            f'({asymmetry:.3%} of max|C_ij|)',
            UserWarning,
            stacklevel=2,
        )
    return (C + C.T) / 2.0


def _matches(C: np.ndarray, system: str, tolerance: float) -> bool:
    """Whether the symmetric Voigt C has the pattern of ``system`` in its standard setting."""
    atol = tolerance * np.max(np.abs(C))

    def equal(*values) -> bool:
        return bool(np.ptp(values) <= atol)

    def zero(pairs) -> bool:
        return all(abs(C[i, j]) <= atol for i, j in pairs)

    if not zero(_OFF_BLOCK):
        return False
    if system == 'orthorhombic':
        return True
    tetragonal = equal(C[0, 0], C[1, 1]) and equal(C[0, 2], C[1, 2]) and equal(C[3, 3], C[4, 4])
    if system == 'tetragonal':
        return tetragonal
    if system == 'hexagonal':
        return tetragonal and equal(C[5, 5], (C[0, 0] - C[0, 1]) / 2.0)
    if system == 'cubic':
        return (
            equal(C[0, 0], C[1, 1], C[2, 2]) and equal(C[0, 1], C[0, 2], C[1, 2]) and equal(C[3, 3], C[4, 4], C[5, 5])
        )
    return False


def detect_crystal_system(elastic_tensor_GPa, tolerance: float = DEFAULT_PATTERN_TOLERANCE) -> str | None:
    """Return the most symmetric of cubic, hexagonal, tetragonal, orthorhombic whose pattern C has.

    The pattern is that of the standard setting (c along z, the a axes along x and y), elements
    equal or zero within ``tolerance`` × max|C_ij|. A hexagonal crystal is recognised by
    C66 = (C11 − C12)/2; a tetragonal one with C16 ≠ 0 (Laue class 4/m) and trigonal, monoclinic or
    triclinic tensors, or any tensor in a rotated setting, give ``None``.
    """
    C = validate_elastic_tensor(elastic_tensor_GPa)
    for system in ('cubic', 'hexagonal', 'tetragonal', 'orthorhombic'):
        if _matches(C, system, tolerance):
            return system
    return None


def _born_criteria(C: np.ndarray, system: str) -> list[tuple[str, float, float]]:
    """The Born criteria of ``system`` as ``(name, left, right)``, each meaning ``left > right``."""
    c11, c22, c33 = C[0, 0], C[1, 1], C[2, 2]
    c12, c13, c23 = C[0, 1], C[0, 2], C[1, 2]
    c44, c55, c66 = C[3, 3], C[4, 4], C[5, 5]
    if system == 'cubic':
        return [
            ('C11 − C12 > 0', c11 - c12, 0.0),
            ('C11 + 2 C12 > 0', c11 + 2 * c12, 0.0),
            ('C44 > 0', c44, 0.0),
        ]
    if system in ('hexagonal', 'tetragonal'):
        criteria = [
            ('C11 > |C12|', c11, abs(c12)),
            ('2 C13² < C33 (C11 + C12)', c33 * (c11 + c12), 2 * c13**2),
            ('C44 > 0', c44, 0.0),
        ]
        if system == 'tetragonal':
            criteria.append(('C66 > 0', c66, 0.0))
        return criteria
    if system == 'orthorhombic':
        determinant = c11 * c22 * c33 + 2 * c12 * c13 * c23 - c11 * c23**2 - c22 * c13**2 - c33 * c12**2
        return [
            ('C11 > 0', c11, 0.0),
            ('C11 C22 > C12²', c11 * c22, c12**2),
            ('C11 C22 C33 + 2 C12 C13 C23 − C11 C23² − C22 C13² − C33 C12² > 0', determinant, 0.0),
            ('C44 > 0', c44, 0.0),
            ('C55 > 0', c55, 0.0),
            ('C66 > 0', c66, 0.0),
        ]
    raise ValueError(f'no Born criteria coded for {system!r}')


def check_mechanical_stability(
    C,
    crystal_system: str | None = None,
    pattern_tolerance: float = DEFAULT_PATTERN_TOLERANCE,
) -> StabilityResult:
    """Check the Born mechanical stability of an elastic tensor.

    :param C: the 6×6 Voigt matrix in GPa (validated and symmetrised by
        :func:`validate_elastic_tensor`).
    :param crystal_system: one of ``CRYSTAL_SYSTEMS`` (case-insensitive) or ``None`` to recognise
        cubic, hexagonal, tetragonal or orthorhombic from the pattern of C. A named cubic,
        hexagonal, tetragonal or orthorhombic system must match that pattern (C in the standard
        setting) within ``pattern_tolerance``; trigonal, monoclinic and triclinic get the general
        test only.
    :return: a :class:`StabilityResult`: stable when every eigenvalue of C is positive and every
        Born criterion of the system holds.
    :raises ValueError: invalid tensor, unknown system, or a tensor that does not have the pattern
        of the named system.
    """
    C = validate_elastic_tensor(C)
    if crystal_system is not None:
        crystal_system = crystal_system.strip().lower()
        if crystal_system not in CRYSTAL_SYSTEMS:
            raise ValueError(f'unknown crystal system {crystal_system!r}; expected one of {CRYSTAL_SYSTEMS}')
        if crystal_system in BORN_SYSTEMS and not _matches(C, crystal_system, pattern_tolerance):
            raise ValueError(
                f'the elastic tensor does not have the {crystal_system} pattern in the standard setting '
                f'(within {pattern_tolerance:.1%} of max|C_ij|); rotate it to the standard setting or '
                'leave crystal_system unset for the general test'
            )
    else:
        crystal_system = detect_crystal_system(C, pattern_tolerance)

    eigenvalues = np.linalg.eigvalsh(C)
    reasons = []
    if crystal_system in BORN_SYSTEMS:
        for name, left, right in _born_criteria(C, crystal_system):
            if not left > right:
                reasons.append(f'{name} ({left:.4g} vs {right:.4g} GPa)')
    if not eigenvalues[0] > 0:
        negative = ', '.join(f'{value:.4g}' for value in eigenvalues[eigenvalues <= 0])
        reasons.append(f'positive definiteness of C (non-positive eigenvalues: {negative} GPa)')
    born = crystal_system if crystal_system in BORN_SYSTEMS else None
    return StabilityResult(stable=not reasons, reasons=reasons, eigenvalues=eigenvalues, crystal_system=born)


def vrh_moduli(C) -> VrhModuli:
    """Return the Voigt, Reuss and Hill bulk and shear moduli (GPa) of the Voigt matrix C (GPa).

    The Reuss bounds are NaN when C is singular.
    """
    C = validate_elastic_tensor(C)
    bulk_voigt = (np.trace(C[:3, :3]) + 2.0 * (C[0, 1] + C[0, 2] + C[1, 2])) / 9.0
    shear_voigt = (np.trace(C[:3, :3]) - (C[0, 1] + C[0, 2] + C[1, 2]) + 3.0 * np.trace(C[3:, 3:])) / 15.0
    try:
        S = np.linalg.inv(C)
    except np.linalg.LinAlgError:
        bulk_reuss = shear_reuss = np.nan
    else:
        bulk_reuss = 1.0 / (np.trace(S[:3, :3]) + 2.0 * (S[0, 1] + S[0, 2] + S[1, 2]))
        shear_reuss = 15.0 / (
            4.0 * np.trace(S[:3, :3]) - 4.0 * (S[0, 1] + S[0, 2] + S[1, 2]) + 3.0 * np.trace(S[3:, 3:])
        )
    return VrhModuli(
        bulk_voigt_GPa=float(bulk_voigt),
        bulk_reuss_GPa=float(bulk_reuss),
        shear_voigt_GPa=float(shear_voigt),
        shear_reuss_GPa=float(shear_reuss),
        bulk_GPa=float((bulk_voigt + bulk_reuss) / 2.0),
        shear_GPa=float((shear_voigt + shear_reuss) / 2.0),
    )


def chen_vickers_hardness(bulk_GPa: float, shear_GPa: float) -> float:
    """Vickers hardness in GPa of Chen et al. (2011): H_V = 2 (κ² G)^0.585 − 3 with κ = G/B.

    NaN when κ² G < 0 (negative G); may be negative for soft solids (κ² G < 1.5^(1/0.585) ≈ 2.0 GPa).
    """
    base = (shear_GPa / bulk_GPa) ** 2 * shear_GPa
    if not base >= 0:
        return float('nan')
    return float(CHEN_PREFACTOR * base**CHEN_EXPONENT - CHEN_OFFSET_GPa)


def cauchy_pressure(C) -> float:
    """Cauchy pressure in GPa: the mean of C12 − C44, C13 − C55 and C23 − C66 (C12 − C44 if cubic)."""
    C = validate_elastic_tensor(C)
    return float(np.mean([C[0, 1] - C[3, 3], C[0, 2] - C[4, 4], C[1, 2] - C[5, 5]]))


def debye_mean_velocity(v_longitudinal: float, v_transverse: float) -> float:
    """Debye mean sound velocity [(1/3)(1/v_l³ + 2/v_t³)]^(−1/3), in the unit of its arguments."""
    return float(((1.0 / v_longitudinal**3 + 2.0 / v_transverse**3) / 3.0) ** (-1.0 / 3.0))


def _sqrt(value: float) -> float:
    """Square root, NaN (not an exception or a complex number) for a negative argument."""
    return float(np.sqrt(value)) if value >= 0 else float('nan')


def mechanical_descriptors(
    elastic_tensor_GPa,
    density_g_cm3: float,
    crystal_system: str | None = None,
    allow_unstable: bool = False,
) -> dict:
    """Return the 13 mechanical–elastic descriptors of the table (:mod:`.keys`).

    :param elastic_tensor_GPa: the 6×6 Voigt matrix C in GPa (Voigt order xx, yy, zz, yz, xz, xy);
        symmetrised within ``DEFAULT_SYMMETRY_TOLERANCE`` (with a warning), refused beyond it.
    :param density_g_cm3: mass density ρ in g/cm³ (> 0).
    :param crystal_system: for the Born criteria (see :func:`check_mechanical_stability`);
        recognised from C when ``None``.
    :param allow_unstable: return the numbers of a mechanically unstable tensor instead of raising
        (moduli that are undefined, e.g. a velocity from a negative G, are NaN); with it the result
        has the extra key ``mechanically_stable`` (bool).
    :return: ``{key: float}`` with exactly the keys of ``MECHANICAL_DESCRIPTOR_KEYS`` (plus
        ``mechanically_stable`` when ``allow_unstable``): moduli and pressures in GPa, velocities in
        km/s, ratios dimensionless.
    :raises MechanicallyUnstableError: the tensor fails the stability criteria (message: the
        failed criteria and the eigenvalues; ``.stability``: the :class:`StabilityResult`).
    :raises ValueError: invalid tensor or density.
    """
    C = validate_elastic_tensor(elastic_tensor_GPa)
    try:
        density = float(density_g_cm3)
    except (TypeError, ValueError) as exception:
        raise ValueError(f'the density must be a number in g/cm³, got {density_g_cm3!r}') from exception
    if not (np.isfinite(density) and density > 0):
        raise ValueError(f'the density must be finite and positive (g/cm³), got {density_g_cm3!r}')
    stability = check_mechanical_stability(C, crystal_system)
    if not stability.stable and not allow_unstable:
        raise MechanicallyUnstableError(stability)

    moduli = vrh_moduli(C)
    B, G = np.float64(moduli.bulk_GPa), np.float64(moduli.shear_GPa)  # NaN/inf, not exceptions, if unstable
    p_wave = B + 4.0 * G / 3.0
    v_longitudinal = _sqrt(p_wave / density * GPA_PER_G_CM3_TO_KM2_PER_S2)
    v_transverse = _sqrt(G / density * GPA_PER_G_CM3_TO_KM2_PER_S2)
    with np.errstate(divide='ignore', invalid='ignore'):
        result = {
            'lame_lambda_GPa': B - 2.0 * G / 3.0,
            'bulk_modulus_GPa': B,
            'youngs_modulus_GPa': 9.0 * B * G / (3.0 * B + G),
            'shear_modulus_GPa': G,
            'poisson_ratio': (3.0 * B - 2.0 * G) / (2.0 * (3.0 * B + G)),
            'p_wave_modulus_GPa': p_wave,
            'vickers_hardness_GPa': chen_vickers_hardness(B, G),
            'pugh_ratio': G / B,
            'cauchy_pressure_GPa': cauchy_pressure(C),
            'v_longitudinal_km_s': v_longitudinal,
            'v_transverse_km_s': v_transverse,
            'velocity_ratio': v_longitudinal / v_transverse if v_transverse > 0 else float('nan'),
            'v_mean_km_s': (
                debye_mean_velocity(v_longitudinal, v_transverse)
                if v_longitudinal > 0 and v_transverse > 0
                else float('nan')
            ),
        }
    result = {key: float(value) for key, value in result.items()}
    if allow_unstable:
        result['mechanically_stable'] = stability.stable
    return result
