"""Vibrational descriptors of one MD trajectory: VDOS, mean frequencies, harmonic thermodynamics, Lindemann ratio.

Pure numpy/scipy: arrays in, numbers and arrays out; the calcfunction that stores them is a thin
wrapper. Units: positions in Å, times in ps, velocities in Å/ps, masses in amu, temperatures in K,
vibrational energies ħω in meV, thermodynamic energies in eV per atom, heat capacity and entropy
in k_B per atom. Trajectory arrays have the shape ``(frames, atoms, 3)``.

Spectra (López et al., Mater. Horiz. 10, 1757 (2023), eqs. 5-7; the choices they leave open are listed in
docs/source/topics/descriptors.md):

* ``g(ω)`` of a group of atoms (all, framework, mobile) is the Fourier transform of the group's
  velocity autocorrelation ``Σ_i <v_i(0)·v_i(τ)>``, not mass-weighted, as the paper's eq. 5. The
  mean frequencies ⟨ω⟩ (eq. 6), ⟨ω30⟩ (eq. 7) and, as the descriptor table defines it, the Debye
  temperature (of the all-atom g) use it. Light atoms weigh more in it than in the phonon DOS
  (each atom's ⟨v²⟩ = 3 k_B T / m), so ``VibrationalAnalysis`` also reports θ_D of the
  mass-weighted spectrum; the two agree for one element.
* The *mass-weighted* spectrum ``Σ_i m_i |FFT v_i|²`` is, for a harmonic crystal in equilibrium,
  exactly the phonon density of states (each normal mode carries k_B T of kinetic energy), so the
  harmonic (Bose–Einstein) thermodynamics E_vib, C_v, F_vib, S_vib use it. The tests check it
  against phonopy's DOS and thermal properties for the same force constants.
* Both spectra are normalised to 3 modes per atom of the group, ``∫ g d(ħω) = 3`` over the range
  below, and are sampled on energies ħω in meV from 0 to the Nyquist energy of the frames.

Spectral estimate: the VACF is averaged over every time origin (Wiener–Khinchin with FFTs, the
power spectra of all atoms of a group summed before the one inverse transform per group), then
multiplied by a lag window (Hann by default) that goes to zero at a maximum correlation time
τmax, and cosine-transformed (the Blackman–Tukey estimator). A finite run makes the raw
periodogram noisy (its variance does not fall with run length) and truncating the VACF abruptly
rings (sinc side lobes of 22 %); the window trades resolution (Hann: full width at half maximum
≈ 1.44 h / (2 τmax), 0.6 meV for τmax = 5 ps) for a variance that falls as τmax / run length and
side lobes below 3 % (Hann) or 0.2 % (Blackman). Unlike averaging periodograms of segments
(Welch), it keeps every time origin of the run. τmax is a parameter (default 5 ps, at most half
the run): VACFs of solids at 300-1600 K decay within ~1-2 ps, and phonon peaks a few meV apart
stay resolved.

Range of the integrals: every integral over a spectrum (normalisation, moments, thermodynamics)
runs over the bins with 0 < ħω ≤ ``max_energy_meV`` (default 100 meV), with trapezoid bin widths.
The upper limit is the range whose sampling ``check_frame_interval`` guaranteed; above it a
spectrum holds only the window's leakage and the estimator's noise floor, which the weight ω² of
⟨ω²⟩ (θ_D) would amplify (by ~1e-3 of θ_D up to a 400 meV Nyquist energy in the tests, more for
finite differences). ``analyse_vibrations`` refuses a spectrum with more than 1 % of its weight
above the range (modes that would be cut off: raise ``max_energy_meV``).

Energies ω ≤ 0 are dropped. The ω = 0 bin holds the diffusive weight, g(0) = 6 D m / (π k_B T ħ)
modes per meV per atom, where the harmonic entropy and free energy diverge logarithmically
(integrably). Dropping the half-bin [0, ΔE/2] lowers S by about
g(0) ΔE/2 [2 + ln(2 k_B T / ΔE) - S/3] k_B per atom: for Li with D = 1e-5 cm²/s at 600 K,
g(0) ≈ 0.004 /meV and, on the ΔE ≈ 0.1 meV grid, ~1e-3 k_B.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .constants import DIMENSIONS, AMU_A2_PER_PS2_TO_eV, BOLTZMANN_eV_K
from .harmonic_thermodynamics import harmonic_thermodynamics
from .keys import ATOM_GROUPS, GROUPED_VIBRATIONAL_QUANTITIES
from .lindemann import _unwrapped_pass
from .msd import _all_finite
from .vibrational_spectra import (
    FINITE_DIFFERENCE_NYQUIST_FACTOR,
    SPECTRUM_ATOM_BATCH,
    DEFAULT_MAX_CORRELATION_ps,
    DEFAULT_MAX_ENERGY_meV,
    MEAN_FREQUENCY_CUTOFF_meV,
    _vibrational_spectra,
    check_frame_interval,
    debye_temperature_K,
    mean_frequency_meV,
    remove_centre_of_mass_velocity,
    spectrum_modes,
)

#: The atom groups of the ×3 descriptors, in key order.
GROUPS = ATOM_GROUPS


#: Largest fraction of the all-atom mass-weighted spectrum allowed above ``max_energy_meV`` (the
#: integration range): well above the estimator's noise floor (~1e-4), well below the weight of a
#: real group of modes (a PO4 stretching set is ~15 % of the modes of Li3PO4).
MAX_WEIGHT_ABOVE_RANGE = 0.01


#: The scalar descriptor keys of the vibrational rows of the table (:mod:`.keys`), as ``descriptors()`` returns them.
VIBRATIONAL_DESCRIPTOR_KEYS = (
    *(f'{quantity}_{group}' for quantity in GROUPED_VIBRATIONAL_QUANTITIES for group in GROUPS),
    'debye_temperature_K',
    'lindemann_ratio',
)


# -------------------------------------------------------------------------------------------------
# one trajectory, all vibrational descriptors
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VibrationalAnalysis:
    """The vibrational descriptors of one MD trajectory (the diffusive–vibrational keys of :mod:`.keys`).

    The scalar fields named as in ``VIBRATIONAL_DESCRIPTOR_KEYS`` are the descriptors
    (``descriptors()`` returns them as a flat dict); a group without atoms gives NaN. Mean
    frequencies and θ_D use the spectra of eq. 5 (``spectra``); the thermodynamics use the
    mass-weighted spectra, per atom of the group at ``temperature_K``.

    :ivar velocity_source: ``'integrator'`` (velocities given) or ``'finite differences'``.
    :ivar debye_temperature_mass_weighted_K: θ_D from the all-atom mass-weighted spectrum (the
        phonon DOS); equals ``debye_temperature_K`` for one element.
    :ivar framework_rms_displacement_A: sqrt(⟨u²⟩) of the framework in Å.
    :ivar framework_nearest_neighbour_distance_A: d_nn of the Lindemann ratio in Å.
    :ivar kinetic_temperature_K: Σ m v² / ((3N - 3) k_B) from the analysed velocities (K); a check
        of the velocities (finite differences read a little low).
    :ivar energies_meV: energies ħω in meV of the spectra.
    :ivar spectra: g(ω) (eq. 5) per group, modes per meV per atom, 3 modes per atom in
        0 < ħω ≤ ``max_energy_meV`` (the arrays run on to the Nyquist energy).
    :ivar mass_weighted_spectra: mass-weighted spectra per group, same normalisation.
    :ivar lag_times_ps: lags of the VACFs in ps.
    :ivar vacf_A2_ps2: per-atom VACF per group in Å²/ps².
    :ivar atoms: atoms per group.
    :ivar spectral_weight_above_max_energy: fraction of the all-atom mass-weighted spectrum (up to
        the Nyquist energy) above ``max_energy_meV``, the noise floor of the estimate (at most 1 %).
    """

    mean_frequency_meV_all: float
    mean_frequency_meV_framework: float
    mean_frequency_meV_mobile: float
    mean_frequency_30meV_meV_all: float
    mean_frequency_30meV_meV_framework: float
    mean_frequency_30meV_meV_mobile: float
    vibrational_energy_eV_all: float
    vibrational_energy_eV_framework: float
    vibrational_energy_eV_mobile: float
    heat_capacity_kB_all: float
    heat_capacity_kB_framework: float
    heat_capacity_kB_mobile: float
    free_energy_eV_all: float
    free_energy_eV_framework: float
    free_energy_eV_mobile: float
    entropy_kB_all: float
    entropy_kB_framework: float
    entropy_kB_mobile: float
    debye_temperature_K: float
    lindemann_ratio: float
    velocity_source: str
    debye_temperature_mass_weighted_K: float
    framework_rms_displacement_A: float
    framework_nearest_neighbour_distance_A: float
    kinetic_temperature_K: float
    temperature_K: float
    energies_meV: np.ndarray
    spectra: dict[str, np.ndarray]
    mass_weighted_spectra: dict[str, np.ndarray]
    lag_times_ps: np.ndarray
    vacf_A2_ps2: dict[str, np.ndarray]
    atoms: dict[str, int]
    frame_interval_ps: float
    nyquist_energy_meV: float
    max_energy_meV: float
    max_correlation_ps: float
    window: str
    spectral_weight_above_max_energy: float
    analysed_time_ps: float
    analysed_frames: int

    def descriptors(self) -> dict[str, float]:
        """Return the scalar descriptors as a flat dict with the keys of the table (:mod:`.keys`)."""
        return {key: float(getattr(self, key)) for key in VIBRATIONAL_DESCRIPTOR_KEYS}


def analyse_vibrations(
    positions: np.ndarray,
    cells: np.ndarray,
    times_ps: np.ndarray,
    symbols: list[str] | tuple[str, ...],
    masses: np.ndarray,
    mobile_species: str,
    temperature_K: float,
    velocities: np.ndarray | None = None,
    equilibration_ps: float = 0.0,
    max_energy_meV: float = DEFAULT_MAX_ENERGY_meV,
    max_correlation_ps: float = DEFAULT_MAX_CORRELATION_ps,
    window: str = 'hann',
    batch_atoms: int = SPECTRUM_ATOM_BATCH,
) -> VibrationalAnalysis:
    """Compute every vibrational descriptor of one MD trajectory.

    Frames before ``equilibration_ps`` (from the first frame) are dropped. Positions are unwrapped
    (``msd.unwrap_positions``). Velocities are the integrator's if given, else central finite
    differences of the unwrapped positions, whose sin(ωΔt)/(ωΔt) response is then divided out of
    the spectra; the frame interval must pass ``check_frame_interval`` for that source. The
    centre-of-mass velocity of all atoms is removed frame by frame. Spectra, moments,
    thermodynamics and the Lindemann ratio follow the functions of this module for the groups
    ``all``, ``framework`` (every atom not of ``mobile_species``) and ``mobile``.

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``, wrapped or not.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)``.
    :param times_ps: time of each frame in ps, equally spaced and increasing.
    :param symbols: chemical symbol per atom.
    :param masses: mass per atom in amu.
    :param mobile_species: element symbol of the mobile ion.
    :param temperature_K: temperature in K of the harmonic thermodynamics (the run's thermostat).
    :param velocities: velocities in Å/ps from the integrator, shape of ``positions``, or None.
    :param equilibration_ps: time in ps discarded at the start.
    :param max_energy_meV: highest energy ħω in meV the spectrum must resolve: the sampling check
        and the upper end of every integral (module docstring).
    :param max_correlation_ps: τmax in ps of the lag window.
    :param window: lag window, ``'hann'`` or ``'blackman'``.
    :param batch_atoms: atoms Fourier-transformed per batch (memory bound).
    :raises ValueError: inconsistent shapes, unequal time steps, no mobile atom, too sparse frames,
        more than 1 % of the spectrum above ``max_energy_meV``.
    """
    positions = np.asarray(positions, dtype=float)
    times_ps = np.asarray(times_ps, dtype=float)
    masses = np.asarray(masses, dtype=float)
    symbols = list(symbols)
    if positions.ndim != 3 or positions.shape[2] != DIMENSIONS:
        raise ValueError(f'positions must have the shape (frames, atoms, 3), got {positions.shape}')
    frames, atoms, _ = positions.shape
    if len(symbols) != atoms or masses.shape != (atoms,) or times_ps.shape != (frames,):
        raise ValueError(
            f'inconsistent trajectory: {frames} frames x {atoms} atoms, {times_ps.shape} times, '
            f'{len(symbols)} symbols, {masses.shape} masses'
        )
    if velocities is not None:
        velocities = np.asarray(velocities, dtype=float)
        if velocities.shape != positions.shape:
            raise ValueError(f'velocities {velocities.shape} and positions {positions.shape} differ in shape')
    if not _all_finite(positions) or (velocities is not None and not _all_finite(velocities)):
        raise ValueError('the trajectory contains NaN or infinite positions or velocities')
    mobile_mask = np.array([symbol == mobile_species for symbol in symbols], dtype=bool)
    if not mobile_mask.any():
        raise ValueError(f'no atom of the mobile species {mobile_species} in the trajectory ({sorted(set(symbols))})')
    if np.any(np.diff(times_ps) <= 0):
        raise ValueError('the frames must be equally spaced in time and increasing')
    cells = np.broadcast_to(np.asarray(cells, dtype=float), (frames, 3, 3))

    first = int(np.searchsorted(times_ps, times_ps[0] + equilibration_ps - 1e-9))  # views, not copies
    positions, cells, times_ps = positions[first:], cells[first:], times_ps[first:]
    if velocities is not None:
        velocities = velocities[first:]
    frames = len(times_ps)
    if frames < 9:
        raise ValueError(f'{frames} frames after equilibration are too few for a vibrational spectrum')
    steps = np.diff(times_ps)
    if not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9):
        raise ValueError('the frames must be equally spaced in time and increasing')
    frame_interval_ps = float(steps[0])
    velocity_source = 'finite differences' if velocities is None else 'integrator'
    nyquist = check_frame_interval(frame_interval_ps, max_energy_meV, velocity_source)

    # One pass over the frames unwraps them chunk by chunk for the Lindemann ratio (and the
    # finite-difference velocities): no unwrapped copy of the trajectory is held.
    framework_mask = ~mobile_mask
    centre_velocity = None
    if velocities is None:
        lindemann, velocities = _unwrapped_pass(positions, cells, masses, framework_mask, frame_interval_ps)
        velocities = remove_centre_of_mass_velocity(velocities, masses, in_place=True)  # our own array
    else:
        lindemann, _ = _unwrapped_pass(positions, cells, masses, framework_mask)
        # the caller's array is neither modified nor copied: the spectra subtract it batch by batch
        centre_velocity = np.matmul(masses, velocities) / masses.sum()  # Σ_i m_i v_i / M per frame

    groups = {'all': np.ones(atoms, dtype=bool), 'framework': framework_mask, 'mobile': mobile_mask}
    spectra = _vibrational_spectra(
        velocities,
        frame_interval_ps,
        masses,
        groups,
        max_correlation_ps=max_correlation_ps,
        window=window,
        finite_difference_correction=velocity_source == 'finite differences',
        batch_atoms=batch_atoms,
        max_energy_meV=max_energy_meV,
        centre_velocity=centre_velocity,
    )
    del velocities
    energies = spectra.energies_meV
    mode_energies, mode_weights = spectrum_modes(energies, spectra.mass_weighted_spectra['all'])
    above = float(mode_weights[mode_energies > max_energy_meV].sum() / mode_weights.sum())
    if above > MAX_WEIGHT_ABOVE_RANGE:
        highest = float(mode_energies[mode_weights > 0.01 * mode_weights.max()].max())
        factor = FINITE_DIFFERENCE_NYQUIST_FACTOR if velocity_source == 'finite differences' else 1.0
        raise ValueError(
            f'{100 * above:.2g} % of the vibrational spectrum lies above max_energy_meV={max_energy_meV:g} meV '
            f'(modes up to ~{highest:.0f} meV): pass a larger max_energy_meV (frames {frame_interval_ps:g} ps apart '
            f'with {velocity_source} velocities resolve up to '
            f'{nyquist / factor:.4g} meV)'
        )

    values: dict[str, float] = {}
    for group in GROUPS:
        values[f'mean_frequency_meV_{group}'] = mean_frequency_meV(
            energies, spectra.spectra[group], cutoff_meV=max_energy_meV
        )
        values[f'mean_frequency_30meV_meV_{group}'] = mean_frequency_meV(
            energies, spectra.spectra[group], cutoff_meV=MEAN_FREQUENCY_CUTOFF_meV
        )
        thermodynamics = harmonic_thermodynamics(
            energies, spectra.mass_weighted_spectra[group], temperature_K, max_energy_meV
        )
        values[f'vibrational_energy_eV_{group}'] = thermodynamics.vibrational_energy_eV
        values[f'heat_capacity_kB_{group}'] = thermodynamics.heat_capacity_kB
        values[f'free_energy_eV_{group}'] = thermodynamics.free_energy_eV
        values[f'entropy_kB_{group}'] = thermodynamics.entropy_kB

    degrees_of_freedom = DIMENSIONS * atoms - DIMENSIONS if atoms > 1 else DIMENSIONS
    kinetic_temperature = (
        spectra.mass_weighted_vacf_amu_A2_ps2['all'][0]
        * atoms
        * AMU_A2_PER_PS2_TO_eV
        / (degrees_of_freedom * BOLTZMANN_eV_K)
    )
    return VibrationalAnalysis(
        **values,
        debye_temperature_K=debye_temperature_K(energies, spectra.spectra['all'], max_energy_meV),
        lindemann_ratio=lindemann.lindemann_ratio,
        velocity_source=velocity_source,
        debye_temperature_mass_weighted_K=debye_temperature_K(
            energies, spectra.mass_weighted_spectra['all'], max_energy_meV
        ),
        framework_rms_displacement_A=lindemann.rms_displacement_A,
        framework_nearest_neighbour_distance_A=lindemann.nearest_neighbour_distance_A,
        kinetic_temperature_K=float(kinetic_temperature),
        temperature_K=float(temperature_K),
        energies_meV=energies,
        spectra=spectra.spectra,
        mass_weighted_spectra=spectra.mass_weighted_spectra,
        lag_times_ps=spectra.lag_times_ps,
        vacf_A2_ps2=spectra.vacf_A2_ps2,
        atoms=spectra.atoms,
        frame_interval_ps=frame_interval_ps,
        nyquist_energy_meV=nyquist,
        max_energy_meV=float(max_energy_meV),
        max_correlation_ps=spectra.max_correlation_ps,
        window=window,
        spectral_weight_above_max_energy=above,
        analysed_time_ps=float(times_ps[-1] - times_ps[0]),
        analysed_frames=frames,
    )
