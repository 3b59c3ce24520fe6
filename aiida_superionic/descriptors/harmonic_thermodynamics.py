"""Harmonic (Bose–Einstein) thermodynamics of a vibrational spectrum: E_vib, C_v, F_vib, S_vib per atom.
Why the mass-weighted spectrum is the one used: :mod:`.vibrations`."""

from __future__ import annotations

import dataclasses

import numpy as np

from .constants import BOLTZMANN_eV_K
from .vibrational_spectra import MODES_PER_ATOM, spectrum_modes

# -------------------------------------------------------------------------------------------------
# harmonic thermodynamics
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HarmonicThermodynamics:
    """Harmonic quantum (Bose–Einstein) thermodynamics per atom.

    :ivar temperature_K: temperature in K.
    :ivar vibrational_energy_eV: E_vib = Σ w ħω (½ + n), zero-point energy included, eV per atom.
    :ivar heat_capacity_kB: C_v = Σ w x² eˣ / (eˣ - 1)², x = ħω / k_B T, in k_B per atom.
    :ivar free_energy_eV: F_vib = Σ w [ħω/2 + k_B T ln(1 - e⁻ˣ)], eV per atom.
    :ivar entropy_kB: S_vib = Σ w [x n - ln(1 - e⁻ˣ)], in k_B per atom.
    :ivar zero_point_energy_eV: Σ w ħω / 2, eV per atom.
    :ivar modes: Σ w, the number of modes per atom that entered (3 for a normalised DOS).
    """

    temperature_K: float
    vibrational_energy_eV: float
    heat_capacity_kB: float
    free_energy_eV: float
    entropy_kB: float
    zero_point_energy_eV: float
    modes: float


def thermodynamics_from_modes(
    mode_energies_meV: np.ndarray, mode_weights: np.ndarray, temperature_K: float
) -> HarmonicThermodynamics:
    """Return the harmonic quantum thermodynamics of modes of given energies and weights.

    The formulas are those of phonopy's ``ThermalProperties`` (zero-point energy included in
    E_vib and F_vib, modes with ħω ≤ 0 dropped without renormalising the others, like phonopy's
    default cut-off of 0). They are evaluated with exp(-x) and expm1, so that neither a large x
    (low T) overflows nor a small x (ω → 0: C_v → 1 k_B, E → k_B T per mode) loses precision.
    At T = 0, E_vib = F_vib = the zero-point energy and C_v = S_vib = 0.

    :param mode_energies_meV: mode energies ħω in meV (e.g. phonopy's mesh frequencies x h).
    :param mode_weights: number of modes per atom each energy stands for (e.g. phonopy's mesh
        weights / (Σ weights × atoms per cell)), same shape.
    :param temperature_K: temperature in K, ≥ 0.
    """
    energies = np.asarray(mode_energies_meV, dtype=float).ravel()
    weights = np.broadcast_to(np.asarray(mode_weights, dtype=float), np.shape(mode_energies_meV)).ravel()
    temperature = float(temperature_K)
    if not temperature >= 0:
        raise ValueError(f'the temperature must be non-negative, got {temperature_K} K')
    kept = energies > 0
    energies_eV, weights = energies[kept] * 1.0e-3, weights[kept]
    zero_point = float(np.dot(weights, 0.5 * energies_eV))
    if temperature == 0:
        return HarmonicThermodynamics(0.0, zero_point, 0.0, zero_point, 0.0, zero_point, float(weights.sum()))
    thermal_energy = BOLTZMANN_eV_K * temperature
    x = energies_eV / thermal_energy
    boltzmann = np.exp(-x)
    one_minus = -np.expm1(-x)  # 1 - exp(-x), accurate for small x
    occupation = boltzmann / one_minus
    log_one_minus = np.log(one_minus)
    return HarmonicThermodynamics(
        temperature_K=temperature,
        vibrational_energy_eV=float(np.dot(weights, energies_eV * (0.5 + occupation))),
        heat_capacity_kB=float(np.dot(weights, x * x * boltzmann / one_minus**2)),
        free_energy_eV=float(np.dot(weights, 0.5 * energies_eV + thermal_energy * log_one_minus)),
        entropy_kB=float(np.dot(weights, x * occupation - log_one_minus)),
        zero_point_energy_eV=zero_point,
        modes=float(weights.sum()),
    )


def harmonic_thermodynamics(
    energies_meV: np.ndarray, dos: np.ndarray, temperature_K: float, max_energy_meV: float | None = None
) -> HarmonicThermodynamics:
    """Return the harmonic thermodynamics per atom of a sampled DOS normalised to 3 modes per atom.

    The bins in range (``spectrum_modes``) are rescaled to hold exactly 3 modes per atom, so the
    high-temperature limits are C_v → 3 k_B and E_vib → 3 k_B T per atom whatever the input
    normalisation. Use the mass-weighted MD spectrum, which is the phonon DOS of a harmonic crystal.

    :param energies_meV: energies ħω in meV.
    :param dos: spectrum (any normalisation) at those energies.
    :param temperature_K: temperature in K.
    :param max_energy_meV: upper end of the range in meV (None: no upper limit).
    :return: per-atom values; NaN everywhere if the spectrum has no positive weight.
    """
    energies, weights = spectrum_modes(energies_meV, dos, max_energy_meV)
    total = weights.sum()
    if not total > 0:
        nan = float('nan')
        return HarmonicThermodynamics(float(temperature_K), nan, nan, nan, nan, nan, nan)
    return thermodynamics_from_modes(energies, weights * (MODES_PER_ATOM / total), temperature_K)
