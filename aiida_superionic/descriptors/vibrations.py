"""Vibrational descriptors of one MD trajectory: VDOS, mean frequencies, harmonic thermodynamics, Lindemann ratio.

Pure numpy/scipy: arrays in, numbers and arrays out; the calcfunction that stores them is a thin
wrapper. Units: positions in Å, times in ps, velocities in Å/ps, masses in amu, temperatures in K,
vibrational energies ħω in meV, thermodynamic energies in eV per atom, heat capacity and entropy
in k_B per atom. Trajectory arrays have the shape ``(frames, atoms, 3)``.

Spectra (López et al., Mater. Horiz. 10, 1757 (2023), eqs. 5-7, and DESIGN.md):

* ``g(ω)`` of a group of atoms (all, framework, mobile) is the Fourier transform of the group's
  velocity autocorrelation ``Σ_i <v_i(0)·v_i(τ)>``, not mass-weighted, as the paper's eq. 5. The
  mean frequencies ⟨ω⟩ (eq. 6), ⟨ω30⟩ (eq. 7) and, as DESIGN.md defines it, the Debye
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
from collections.abc import Mapping

import numpy as np
import scipy.fft

from .constants import DIMENSIONS, FS_PER_PS, AMU_A2_PER_PS2_TO_eV, BOLTZMANN_eV_K, PLANCK_meV_ps
from .keys import ATOM_GROUPS, GROUPED_VIBRATIONAL_QUANTITIES
from .msd import UNWRAP_FRAME_CHUNK, _all_finite, _as_index, _displacement_chunks, _fft_length, _fill_time_rows

#: The atom groups of the ×3 descriptors, in key order.
GROUPS = ATOM_GROUPS

#: Values of ``velocity_source``: velocities written by the MD integrator, or central finite
#: differences of the positions.
VELOCITY_SOURCES = ('integrator', 'finite differences')

#: Highest vibrational energy (meV) the spectrum must resolve unless told otherwise. The phonon
#: spectra of the paper's electrolytes (Li/Na/Ag/Cu halides, chalcogenides, oxides) lie below
#: ~100 meV (the highest Li-O modes ~80-90 meV); stretching modes of polyanions (PO4, SO4 up to
#: ~140 meV, BH4 ~290 meV) need a larger value.
DEFAULT_MAX_ENERGY_meV = 100.0

#: The Nyquist frequency of finite-difference velocities must be this multiple of the highest
#: energy. The central difference multiplies the velocity's Fourier amplitude by sin(ωΔt)/(ωΔt):
#: at ωΔt = π/2 (half the Nyquist frequency) the power is down to 0.41 and falls to 0 at the
#: Nyquist frequency, so beyond half of it the spectrum cannot be corrected reliably.
FINITE_DIFFERENCE_NYQUIST_FACTOR = 2.0

#: Default maximum correlation time τmax in ps of the lag window (capped at half the run).
DEFAULT_MAX_CORRELATION_ps = 5.0

#: Cut-off in meV of ⟨ω30⟩ (the paper's eq. 7).
MEAN_FREQUENCY_CUTOFF_meV = 30.0

#: Largest fraction of the all-atom mass-weighted spectrum allowed above ``max_energy_meV`` (the
#: integration range): well above the estimator's noise floor (~1e-4), well below the weight of a
#: real group of modes (a PO4 stretching set is ~15 % of the modes of Li3PO4).
MAX_WEIGHT_ABOVE_RANGE = 0.01

#: Lag windows offered (``lag_window``).
WINDOWS = ('hann', 'blackman')

#: Atoms whose velocities are Fourier-transformed together: bounds the memory to a few arrays of
#: ``(frames + lags) x 3 x SPECTRUM_ATOM_BATCH`` complex numbers, whatever the number of atoms.
SPECTRUM_ATOM_BATCH = 16

#: Zero-padding factor of the windowed VACF before its cosine transform (interpolates the
#: spectrum on a grid ``SPECTRUM_OVERSAMPLING`` times finer than 1 / (2 τmax)).
SPECTRUM_OVERSAMPLING = 4

#: Modes per atom: every spectrum is normalised to this many modes per atom.
MODES_PER_ATOM = DIMENSIONS

#: The scalar descriptor keys of the vibrational rows of DESIGN.md, as ``descriptors()`` returns them.
VIBRATIONAL_DESCRIPTOR_KEYS = (
    *(f'{quantity}_{group}' for quantity in GROUPED_VIBRATIONAL_QUANTITIES for group in GROUPS),
    'debye_temperature_K',
    'lindemann_ratio',
)


# -------------------------------------------------------------------------------------------------
# velocities and the sampling rule
# -------------------------------------------------------------------------------------------------


def velocities_from_positions(unwrapped_positions: np.ndarray, frame_interval_ps: float) -> np.ndarray:
    """Return velocities by central finite differences of continuous positions.

    ``v(t) = (x(t + Δt) - x(t - Δt)) / (2 Δt)`` inside the run and the second-order one-sided
    differences ``(∓3 x₀ ± 4 x₁ ∓ x₂) / (2 Δt)`` at the two ends, so the error is O(Δt²)
    everywhere (``numpy.gradient`` with ``edge_order=2``). For a vibration of angular frequency
    ω the interior velocities are the true ones times sin(ωΔt)/(ωΔt) (a relative error of
    (ωΔt)²/6 for small ωΔt); ``compute_vibrational_spectra`` can undo that factor.

    :param unwrapped_positions: continuous Cartesian positions in Å, shape ``(frames, atoms, 3)``,
        at least 3 frames (unwrap wrapped positions first, e.g. with ``msd.unwrap_positions``).
    :param frame_interval_ps: time between frames in ps, > 0.
    :return: velocities in Å/ps, same shape.
    """
    positions = np.asarray(unwrapped_positions, dtype=float)
    if positions.ndim != 3 or positions.shape[0] < 3:
        raise ValueError(f'finite differences need positions of shape (frames >= 3, atoms, 3), got {positions.shape}')
    if not frame_interval_ps > 0:
        raise ValueError(f'the frame interval must be positive, got {frame_interval_ps} ps')
    return np.gradient(positions, float(frame_interval_ps), axis=0, edge_order=2)


def nyquist_energy_meV(frame_interval_ps: float) -> float:
    """Return the Nyquist energy h / (2 Δt) in meV of frames ``frame_interval_ps`` (ps) apart."""
    return PLANCK_meV_ps / (2.0 * float(frame_interval_ps))


def check_frame_interval(
    frame_interval_ps: float,
    max_energy_meV: float = DEFAULT_MAX_ENERGY_meV,
    velocity_source: str = 'finite differences',
) -> float:
    """Refuse frames too far apart to resolve vibrations up to ``max_energy_meV``.

    Rule: the Nyquist energy h / (2 Δt) must be at least ``max_energy_meV`` for integrator
    velocities (the sampling theorem: anything above it aliases onto lower energies) and at least
    ``FINITE_DIFFERENCE_NYQUIST_FACTOR`` (2) times ``max_energy_meV`` for finite-difference
    velocities (whose response sin(ωΔt)/(ωΔt) falls to 0.64 in amplitude at half the Nyquist
    frequency and to 0 at the Nyquist frequency). For example frames 100 fs apart have a Nyquist
    energy of 20.7 meV (5 THz) and are refused; 1.5 fs AIMD steps give 1379 meV.

    :param frame_interval_ps: time between analysed frames in ps.
    :param max_energy_meV: highest vibrational energy ħω in meV the spectrum must resolve.
    :param velocity_source: ``'integrator'`` or ``'finite differences'``.
    :return: the Nyquist energy in meV.
    :raises ValueError: naming the frame interval, the Nyquist frequency (meV and THz) and the
        required range, when the frames are too far apart.
    """
    if velocity_source not in VELOCITY_SOURCES:
        raise ValueError(f'velocity_source must be one of {VELOCITY_SOURCES}, got {velocity_source!r}')
    if not frame_interval_ps > 0:
        raise ValueError(f'the frame interval must be positive, got {frame_interval_ps} ps')
    nyquist = nyquist_energy_meV(frame_interval_ps)
    factor = FINITE_DIFFERENCE_NYQUIST_FACTOR if velocity_source == 'finite differences' else 1.0
    required = factor * float(max_energy_meV)
    if nyquist < required:
        longest_interval_fs = PLANCK_meV_ps / (2.0 * required) * FS_PER_PS
        raise ValueError(
            f'frames {frame_interval_ps * FS_PER_PS:g} fs ({frame_interval_ps:g} ps) apart have a Nyquist frequency '
            f'of {nyquist:.4g} meV ({nyquist / PLANCK_meV_ps:.4g} THz), below the required {required:.4g} meV '
            f'({required / PLANCK_meV_ps:.4g} THz): the vibrational spectrum must cover 0-{max_energy_meV:g} meV '
            f'and {velocity_source} velocities need a Nyquist frequency of at least {factor:g} x that range. '
            f'Store frames at least every {longest_interval_fs:.3g} fs (or lower max_energy_meV if the material '
            f'has no modes that high).'
        )
    return nyquist


def remove_centre_of_mass_velocity(velocities: np.ndarray, masses: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Return velocities in the centre-of-mass frame of all atoms, frame by frame.

    The total momentum of an NVT run is conserved (zero); a thermostat or round-off may leave a
    drift, which would put spectral weight at ω ≈ 0. The frame of *all* atoms is used, not that
    of the framework: the counter-motion of the framework against the mobile ions is a real
    vibration (the Γ optical modes) that the framework frame would remove.

    :param velocities: velocities in Å/ps, shape ``(frames, atoms, 3)``.
    :param masses: masses in amu, shape ``(atoms,)``.
    :param in_place: subtract from ``velocities`` itself (a float array) instead of a copy.
    :return: velocities in Å/ps.
    """
    masses = np.asarray(masses, dtype=float)
    centre = np.einsum('tnk,n->tk', velocities, masses) / masses.sum()
    if in_place:
        velocities -= centre[:, None, :]
        return velocities
    return velocities - centre[:, None, :]


# -------------------------------------------------------------------------------------------------
# spectra
# -------------------------------------------------------------------------------------------------


def lag_window(window: str, max_lag: int) -> np.ndarray:
    """Return a lag window ``w[τ]`` for lags 0..``max_lag`` (frames), w(0) = 1, w(max_lag) = 0.

    ``'hann'``: ½ (1 + cos(πτ/M)); ``'blackman'``: 0.42 + 0.5 cos(πτ/M) + 0.08 cos(2πτ/M).
    Applied to the even VACF on [-M, M] they are the Hann and Blackman windows of length 2M.
    """
    phase = np.pi * np.arange(max_lag + 1) / max_lag
    if window == 'hann':
        return 0.5 * (1.0 + np.cos(phase))
    if window == 'blackman':
        return 0.42 + 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)
    raise ValueError(f'window must be one of {WINDOWS}, got {window!r}')


@dataclasses.dataclass(frozen=True)
class VibrationalSpectra:
    """Vibrational spectra (VDOS) and velocity autocorrelations of groups of atoms.

    Dictionaries are keyed by group name. Spectra are in modes per meV per atom of the group,
    normalised so that ``∫ g d(ħω) = 3`` over 0 < ħω ≤ the ``max_energy_meV`` given (else the
    Nyquist energy); an empty group has NaN arrays.

    :ivar energies_meV: energies ħω in meV, from 0 to the Nyquist energy, uniformly spaced.
    :ivar spectra: g(ω) of eq. 5 (not mass-weighted) per group.
    :ivar mass_weighted_spectra: spectrum of Σ_i m_i |FFT v_i|² per group (the phonon DOS of a
        harmonic crystal), the input of the thermodynamics.
    :ivar lag_times_ps: lags of the VACFs in ps, 0..τmax.
    :ivar vacf_A2_ps2: ⟨v_i(0)·v_i(τ)⟩ averaged over time origins and the group's atoms, Å²/ps²
        (before the lag window).
    :ivar mass_weighted_vacf_amu_A2_ps2: ⟨m_i v_i(0)·v_i(τ)⟩ likewise, amu·Å²/ps² (2 × kinetic
        energy per atom at τ = 0).
    :ivar atoms: number of atoms per group.
    :ivar frame_interval_ps: time between frames in ps.
    :ivar max_correlation_ps: τmax in ps actually used.
    :ivar window: the lag window.
    :ivar finite_difference_corrected: whether the sin(ωΔt)/(ωΔt) response of central
        differences was divided out of the spectra.
    """

    energies_meV: np.ndarray
    spectra: dict[str, np.ndarray]
    mass_weighted_spectra: dict[str, np.ndarray]
    lag_times_ps: np.ndarray
    vacf_A2_ps2: dict[str, np.ndarray]
    mass_weighted_vacf_amu_A2_ps2: dict[str, np.ndarray]
    atoms: dict[str, int]
    frame_interval_ps: float
    max_correlation_ps: float
    window: str
    finite_difference_corrected: bool


def compute_vibrational_spectra(
    velocities: np.ndarray,
    frame_interval_ps: float,
    masses: np.ndarray,
    groups: Mapping[str, np.ndarray],
    max_correlation_ps: float = DEFAULT_MAX_CORRELATION_ps,
    window: str = 'hann',
    finite_difference_correction: bool = False,
    batch_atoms: int = SPECTRUM_ATOM_BATCH,
    oversampling: int = SPECTRUM_OVERSAMPLING,
    max_energy_meV: float | None = None,
) -> VibrationalSpectra:
    """Compute the VDOS per group of atoms from the velocity autocorrelation (Wiener–Khinchin).

    For each atom the velocity components are Fourier-transformed with zero padding to at least
    ``frames + M`` points (M = τmax/Δt lags), so that ``|FFT v|²`` is the transform of the linear,
    not circular, autocorrelation. The power spectra ``|FFT v_i|²`` and ``m_i |FFT v_i|²`` are
    summed over the atoms of every group, ``batch_atoms`` atoms at a time, then transformed back
    once per group; dividing lag τ by the number of its time origins (frames - τ) gives the VACF
    averaged over all origins. The VACF times the lag window is cosine-transformed (zero-padded
    ``oversampling`` times) into the spectrum, which is normalised to 3 modes per atom over
    0 < ħω ≤ ``max_energy_meV`` (the whole range up to the Nyquist energy if None).

    With ``finite_difference_correction`` the spectra are divided by [sin(ωΔt)/(ωΔt)]², the
    power response of central differences (exact for the interior frames), with the factor
    capped at its value at ωΔt = π/2 (2.47) beyond half the Nyquist frequency.

    Memory: the velocities plus a few arrays of ``(frames + M) x 3 batch_atoms`` numbers.

    :param velocities: velocities in Å/ps, shape ``(frames, atoms, 3)``.
    :param frame_interval_ps: time between frames in ps.
    :param masses: masses in amu, shape ``(atoms,)``.
    :param groups: group name -> boolean mask over atoms (a group may be empty).
    :param max_correlation_ps: τmax in ps; capped at half the run.
    :param window: lag window, ``'hann'`` or ``'blackman'`` (see ``lag_window``).
    :param finite_difference_correction: divide out the central-difference response.
    :param batch_atoms: atoms transformed per batch.
    :param oversampling: zero-padding factor of the cosine transform.
    :param max_energy_meV: upper end in meV of the normalisation range (None: the Nyquist energy).
    """
    return _vibrational_spectra(
        velocities,
        frame_interval_ps,
        masses,
        groups,
        max_correlation_ps=max_correlation_ps,
        window=window,
        finite_difference_correction=finite_difference_correction,
        batch_atoms=batch_atoms,
        oversampling=oversampling,
        max_energy_meV=max_energy_meV,
    )


def _vibrational_spectra(
    velocities: np.ndarray,
    frame_interval_ps: float,
    masses: np.ndarray,
    groups: Mapping[str, np.ndarray],
    max_correlation_ps: float = DEFAULT_MAX_CORRELATION_ps,
    window: str = 'hann',
    finite_difference_correction: bool = False,
    batch_atoms: int = SPECTRUM_ATOM_BATCH,
    oversampling: int = SPECTRUM_OVERSAMPLING,
    max_energy_meV: float | None = None,
    centre_velocity: np.ndarray | None = None,
) -> VibrationalSpectra:
    """:func:`compute_vibrational_spectra` of ``velocities - centre_velocity`` (per frame, shape
    ``(frames, 3)``; None: nothing subtracted), the subtraction done batch by batch so that the
    caller's velocities are neither copied whole nor modified."""
    velocities = np.asarray(velocities, dtype=float)
    if velocities.ndim != 3 or velocities.shape[2] != DIMENSIONS:
        raise ValueError(f'velocities must have the shape (frames, atoms, 3), got {velocities.shape}')
    frames, atoms, _ = velocities.shape
    masses = np.asarray(masses, dtype=float)
    if masses.shape != (atoms,):
        raise ValueError(f'{atoms} atoms but {masses.shape} masses')
    if not frame_interval_ps > 0:
        raise ValueError(f'the frame interval must be positive, got {frame_interval_ps} ps')
    if not max_correlation_ps > 0:
        raise ValueError(f'max_correlation_ps must be positive, got {max_correlation_ps}')
    dt = float(frame_interval_ps)
    max_lag = min(round(max_correlation_ps / dt), (frames - 1) // 2)
    if max_lag < 4:
        raise ValueError(
            f'{frames} frames of {dt:g} ps with max_correlation_ps={max_correlation_ps:g} leave {max_lag} lags; '
            'the spectrum needs at least 4 (a longer run or a longer max_correlation_ps)'
        )
    window_values = lag_window(window, max_lag)  # validates the name
    names = list(groups)
    masks = np.zeros((atoms, len(names)), dtype=bool)
    for column, name in enumerate(names):
        mask = np.asarray(groups[name], dtype=bool)
        if mask.shape != (atoms,):
            raise ValueError(f'the mask of group {name!r} has shape {mask.shape}, expected ({atoms},)')
        masks[:, column] = mask
    # Columns: the plain sum and the mass-weighted sum for every group.
    weights = np.concatenate([masks.astype(float), masks * masses[:, None]], axis=1)

    fft_length = _fft_length(frames + max_lag)
    power = np.zeros((weights.shape[1], fft_length // 2 + 1))
    centre_rows = None if centre_velocity is None else np.ascontiguousarray(np.asarray(centre_velocity, dtype=float).T)
    batch_atoms = max(1, int(batch_atoms))
    # each batch of atoms is copied once, transposed to time-contiguous rows (minus the centre of
    # mass velocity), into a zero-padded buffer that the FFT reads as it is
    padded = np.zeros((min(batch_atoms, atoms), DIMENSIONS, fft_length))
    for start in range(0, atoms, batch_atoms):
        stop = min(start + batch_atoms, atoms)
        rows = padded[: stop - start, :, :frames]
        _fill_time_rows(rows, velocities, start, stop)
        if centre_rows is not None:
            rows -= centre_rows  # along contiguous rows: faster than subtracting during the transpose
        transform = scipy.fft.rfft(padded[: stop - start], axis=-1)  # (batch, 3, frequency)
        atom_power = transform.real**2
        atom_power += transform.imag**2
        del transform
        # |FFT v_i|² summed over the directions, then over the atoms of each group (with masses)
        power += np.einsum('an,af->nf', weights[start:stop], atom_power.sum(axis=1))
        del atom_power

    lags = np.arange(max_lag + 1)
    correlation = np.ascontiguousarray(scipy.fft.irfft(power, n=fft_length, axis=-1)[:, : max_lag + 1].T)
    correlation /= (frames - lags)[:, None]
    counts = masks.sum(axis=0)
    with np.errstate(invalid='ignore', divide='ignore'):
        correlation /= np.concatenate([counts, counts])[None, :]  # per atom (NaN for an empty group)

    spectrum_length = scipy.fft.next_fast_len(max(int(oversampling), 1) * 2 * max_lag, real=True)
    even = np.zeros((spectrum_length, correlation.shape[1]))
    windowed = correlation * window_values[:, None]
    even[: max_lag + 1] = windowed
    even[spectrum_length - max_lag :] = windowed[1:][::-1]
    spectra = scipy.fft.rfft(even, axis=0).real * dt
    bins = np.arange(spectra.shape[0])
    energies = PLANCK_meV_ps * bins / (spectrum_length * dt)
    if finite_difference_correction:
        phase = np.minimum(2.0 * np.pi * bins / spectrum_length, np.pi / 2)  # ωΔt, capped
        response = np.ones_like(phase)
        response[1:] = (np.sin(phase[1:]) / phase[1:]) ** 2
        spectra /= response[:, None]

    widths = _bin_widths(energies)
    positive = (energies > 0) & (energies <= (np.inf if max_energy_meV is None else max_energy_meV))
    with np.errstate(invalid='ignore', divide='ignore'):
        areas = (spectra[positive] * widths[positive, None]).sum(axis=0)
        spectra = MODES_PER_ATOM * spectra / np.where(areas > 0, areas, np.nan)[None, :]

    group_count = len(names)
    return VibrationalSpectra(
        energies_meV=energies,
        spectra={name: spectra[:, i] for i, name in enumerate(names)},
        mass_weighted_spectra={name: spectra[:, group_count + i] for i, name in enumerate(names)},
        lag_times_ps=lags * dt,
        vacf_A2_ps2={name: correlation[:, i] for i, name in enumerate(names)},
        mass_weighted_vacf_amu_A2_ps2={name: correlation[:, group_count + i] for i, name in enumerate(names)},
        atoms={name: int(counts[i]) for i, name in enumerate(names)},
        frame_interval_ps=dt,
        max_correlation_ps=max_lag * dt,
        window=window,
        finite_difference_corrected=bool(finite_difference_correction),
    )


# -------------------------------------------------------------------------------------------------
# moments of a spectrum
# -------------------------------------------------------------------------------------------------


def _bin_widths(energies_meV: np.ndarray) -> np.ndarray:
    """Trapezoid widths of the bins of an increasing energy grid (edges halfway between points)."""
    energies = np.asarray(energies_meV, dtype=float)
    if energies.size == 1:
        return np.ones(1)
    edges = np.concatenate([energies[:1], 0.5 * (energies[1:] + energies[:-1]), energies[-1:]])
    return np.diff(edges)


def spectrum_modes(
    energies_meV: np.ndarray, dos: np.ndarray, max_energy_meV: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a sampled spectrum into (energy, weight) pairs of its bins with 0 < ħω ≤ ``max_energy_meV``.

    Bins with ħω ≤ 0 are dropped (module docstring); each remaining bin stands for
    ``dos × width`` modes at its energy, with trapezoid widths. Negative ``dos`` values (the small
    side lobes of the lag window, or noise) are kept: clipping them would bias every integral.

    :param energies_meV: increasing energies ħω in meV, shape ``(bins,)``.
    :param dos: spectrum in modes per meV (any normalisation), shape ``(bins,)``.
    :param max_energy_meV: upper end of the range in meV (None: no upper limit).
    :return: energies in meV and weights in modes, of the bins in range.
    """
    energies = np.asarray(energies_meV, dtype=float)
    dos = np.asarray(dos, dtype=float)
    if energies.shape != dos.shape or energies.ndim != 1:
        raise ValueError(f'energies {energies.shape} and spectrum {dos.shape} must be 1-d of equal length')
    if np.any(np.diff(energies) <= 0):
        raise ValueError('the energies of a spectrum must increase')
    weights = dos * _bin_widths(energies)
    kept = (energies > 0) & (energies <= (np.inf if max_energy_meV is None else max_energy_meV))
    return energies[kept], weights[kept]


def mean_frequency_meV(energies_meV: np.ndarray, dos: np.ndarray, cutoff_meV: float | None = None) -> float:
    """Return the mean frequency ⟨ω⟩ = ∫ ħω g / ∫ g in meV (eq. 6), or ⟨ω_c⟩ up to a cut-off (eq. 7).

    :param energies_meV: energies ħω in meV.
    :param dos: spectrum g (any normalisation) at those energies.
    :param cutoff_meV: if given, both integrals run over 0 < ħω ≤ ``cutoff_meV`` only (30 meV for
        ⟨ω30⟩, the spectral range ``max_energy_meV`` for ⟨ω⟩).
    :return: the mean energy in meV; NaN if the spectrum has no weight in the range.
    """
    energies, weights = spectrum_modes(energies_meV, dos)
    if cutoff_meV is not None:
        kept = energies <= cutoff_meV
        energies, weights = energies[kept], weights[kept]
    total = weights.sum()
    return float(np.dot(energies, weights) / total) if total > 0 else float('nan')


def debye_temperature_K(energies_meV: np.ndarray, dos: np.ndarray, max_energy_meV: float | None = None) -> float:
    """Return the Debye temperature θ_D = sqrt(5/3 ⟨(ħω)²⟩) / k_B in K from the second moment.

    For a Debye DOS g ∝ ω² up to ω_D, ⟨ω²⟩ = 3/5 ω_D², so θ_D = ħω_D / k_B exactly.

    :param energies_meV: energies ħω in meV.
    :param dos: spectrum (any normalisation).
    :param max_energy_meV: upper end of the range in meV (None: no upper limit).
    """
    energies, weights = spectrum_modes(energies_meV, dos, max_energy_meV)
    total = weights.sum()
    if not total > 0:
        return float('nan')
    second_moment_meV2 = np.dot(energies**2, weights) / total
    if second_moment_meV2 < 0:
        return float('nan')
    return float(np.sqrt(5.0 / 3.0 * second_moment_meV2) * 1.0e-3 / BOLTZMANN_eV_K)


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


# -------------------------------------------------------------------------------------------------
# Lindemann ratio
# -------------------------------------------------------------------------------------------------


def nearest_neighbour_distances(
    positions: np.ndarray, cell: np.ndarray, centres: np.ndarray | None = None
) -> np.ndarray:
    """Return, for each centre atom, the minimum-image distance in Å to its nearest other atom.

    Separations are reduced to fractional coordinates in [-½, ½) and the 27 neighbouring images
    searched, exact whenever the nearest-neighbour distance is shorter than every cell height.

    :param positions: Cartesian positions in Å, shape ``(atoms, 3)``, at least two atoms.
    :param cell: cell vectors as rows in Å, shape ``(3, 3)``.
    :param centres: boolean mask of the atoms whose distance is wanted (default: all).
    :return: distances in Å, shape ``(centres,)``.
    """
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float)
    if len(positions) < 2:
        raise ValueError('a nearest-neighbour distance needs at least two atoms')
    centre_indices = np.arange(len(positions)) if centres is None else np.flatnonzero(np.asarray(centres, dtype=bool))
    fractional = positions @ np.linalg.inv(cell)
    separations = fractional[None, :, :] - fractional[centre_indices, None, :]
    separations = (separations - np.rint(separations)) @ cell
    shifts = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing='ij')).reshape(3, -1).T @ cell
    shortest = np.full(len(centre_indices), np.inf)
    components = [np.ascontiguousarray(separations[..., k]) for k in range(3)]  # (centres, atoms) each
    squared, square = np.empty(components[0].shape), np.empty(components[0].shape)
    itself = (np.arange(len(centre_indices)), centre_indices)
    for shift in shifts:  # one image at a time: memory of centres x atoms distances
        # |s + shift|² as (x² + y²) + z², component arrays in place (no (centres, atoms, 3) temporaries)
        np.add(components[0], shift[0], out=squared)
        squared *= squared
        for k in (1, 2):
            np.add(components[k], shift[k], out=square)
            square *= square
            squared += square
        squared[itself] = np.inf  # the atom itself, any shift
        shortest = np.minimum(shortest, squared.min(axis=1))
    return np.sqrt(shortest)


@dataclasses.dataclass(frozen=True)
class LindemannRatio:
    """The Lindemann ratio of the framework.

    :ivar lindemann_ratio: sqrt(⟨u²⟩) / d_nn (dimensionless).
    :ivar rms_displacement_A: sqrt(⟨u²⟩) in Å, ⟨u²⟩ = ⟨|r_i(t) - r̄_i|²⟩ over framework atoms and frames.
    :ivar nearest_neighbour_distance_A: d_nn in Å, mean over framework atoms of the distance to
        their nearest neighbour of any species in the average structure.
    :ivar atoms: number of framework atoms.
    """

    lindemann_ratio: float
    rms_displacement_A: float
    nearest_neighbour_distance_A: float
    atoms: int


def framework_lindemann_ratio(
    unwrapped_positions: np.ndarray, cells: np.ndarray, masses: np.ndarray, framework_mask: np.ndarray
) -> LindemannRatio:
    """Return the Lindemann ratio γ = sqrt(⟨u²⟩) / d_nn of the framework (DESIGN.md).

    The framework centre-of-mass drift is removed (``msd.remove_drift``); every atom's mean
    position over the run defines the average structure (in the mean cell). ⟨u²⟩ is the mean over
    framework atoms and frames of the squared 3-d displacement from the mean position (an
    isotropic Gaussian vibration of standard deviation σ per direction gives ⟨u²⟩ = 3σ²). d_nn is
    the mean over framework atoms of the minimum-image distance to the nearest atom of any
    species in the average structure. A mobile ion that diffused has a mean position that is not
    a lattice site; it still counts as a neighbour there, which is the stated definition.

    :param unwrapped_positions: continuous Cartesian positions in Å, shape ``(frames, atoms, 3)``.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)``.
    :param masses: masses in amu, shape ``(atoms,)``.
    :param framework_mask: boolean mask of the framework (non-mobile) atoms.
    :return: the ratio; NaN values when there is no framework atom or only one atom.
    """
    positions = np.asarray(unwrapped_positions, dtype=float)
    sums = _LindemannSums(masses, framework_mask, positions)
    if sums.defined:
        first_centre = sums.centre(positions[:1])[0]
        for start in range(1, positions.shape[0], UNWRAP_FRAME_CHUNK):  # frames after the first
            chunk = positions[start : start + UNWRAP_FRAME_CHUNK]
            drift = sums.centre(chunk)
            drift -= first_centre
            sums.add(chunk - positions[0], drift)
    return sums.result(cells)


class _LindemannSums:
    """The sums behind :func:`framework_lindemann_ratio`, accumulated over chunks of frames.

    With the framework drift removed (``msd.remove_drift``: z(t) = r(t) - d(t), d(t) = c(t) - c(0)
    the displacement of the framework centre of mass) and y(t) = z(t) - z(0) = s(t) - d(t) (s the
    unwrapped displacement from the first frame, so that no cancellation occurs), the mean
    position of every atom is r(0) + Σy / T and the framework's Σ |z - z̄|² = Σ y² - T ȳ² per atom
    and direction: one pass over the frames, no full-size copy.
    """

    def __init__(self, masses: np.ndarray, framework_mask: np.ndarray, positions: np.ndarray):
        atoms = positions.shape[1]
        self.framework_mask = np.asarray(framework_mask, dtype=bool)
        self.framework = _as_index(self.framework_mask)
        self.weights = np.asarray(masses, dtype=float)[self.framework_mask]
        self.framework_atoms = int(self.framework_mask.sum())
        self.defined = self.framework_atoms > 0 and atoms >= 2
        self.first = positions[0].copy()
        self.frames = 1  # the first frame, where y = 0
        self.displacement_sum = np.zeros((atoms, DIMENSIONS))  # Σ_t y, all atoms
        self.square_sum = np.zeros((self.framework_atoms, DIMENSIONS))  # Σ_t y², framework atoms

    def centre(self, positions: np.ndarray) -> np.ndarray:
        """The framework centre of mass of each frame given, shape ``(frames, 3)``."""
        return np.matmul(self.weights, positions[:, self.framework]) / self.weights.sum()

    def add(self, displacements: np.ndarray, drift: np.ndarray) -> None:
        """Add frames after the first: unwrapped displacements from the first frame ``(chunk, atoms, 3)``
        (overwritten) and the framework drift since the first frame ``(chunk, 3)``."""
        for direction in range(DIMENSIONS):  # y = s - d (per direction: numpy's inner loop runs over atoms)
            displacements[:, :, direction] -= drift[:, direction, None]
        self.displacement_sum += displacements.sum(axis=0)
        framework = displacements[:, self.framework]
        self.square_sum += np.einsum('tnk,tnk->nk', framework, framework)
        self.frames += len(displacements)

    def result(self, cells: np.ndarray) -> LindemannRatio:
        """The Lindemann ratio from the frames added (NaN without framework atoms or with one atom)."""
        if not self.defined:
            nan = float('nan')
            return LindemannRatio(nan, nan, nan, self.framework_atoms)
        mean_displacements = self.displacement_sum / self.frames
        mean_positions = self.first + mean_displacements
        framework_means = mean_displacements[self.framework]
        square_sum = float((self.square_sum - self.frames * framework_means * framework_means).sum())
        mean_square = max(square_sum, 0.0) / self.frames / self.framework_atoms  # ≥ 0 but for round-off
        mean_cell = np.asarray(cells, dtype=float).reshape(-1, 3, 3).mean(axis=0)
        distance = float(nearest_neighbour_distances(mean_positions, mean_cell, self.framework_mask).mean())
        rms = float(np.sqrt(mean_square))
        return LindemannRatio(rms / distance, rms, distance, self.framework_atoms)


def _unwrapped_pass(
    positions: np.ndarray,
    cells: np.ndarray,
    masses: np.ndarray,
    framework_mask: np.ndarray,
    frame_interval_ps: float | None = None,
) -> tuple[LindemannRatio, np.ndarray | None]:
    """One pass over wrapped positions, chunk by chunk: the Lindemann ratio and, given a frame
    interval, the finite-difference velocities (the numbers of ``unwrap_positions`` followed by
    ``framework_lindemann_ratio`` and ``velocities_from_positions``, to round-off, without an
    unwrapped copy of the trajectory).

    :return: the Lindemann ratio and the velocities in Å/ps (shape of ``positions``) or None.
    """
    frames = positions.shape[0]
    sums = _LindemannSums(masses, framework_mask, positions)
    velocities = None if frame_interval_ps is None else np.empty(positions.shape)
    if velocities is None and not sums.defined:
        return sums.result(cells), None
    dt = None if frame_interval_ps is None else float(frame_interval_ps)
    previous = positions[:1]  # the last two unwrapped frames before the current chunk
    for _, stop, displacements in _displacement_chunks(positions, cells):
        if velocities is not None:
            # central differences of the unwrapped positions for the frames with both neighbours
            # in ``window`` (frames ``stop - len(window)..stop-1``), np.gradient's formulas
            window = np.concatenate([previous, displacements + positions[0]])
            low = stop - len(window)
            if low == 0:  # the second-order one-sided difference at the first frame
                velocities[0] = -1.5 / dt * window[0] + 2.0 / dt * window[1] + -0.5 / dt * window[2]
            velocities[low + 1 : stop - 1] = (window[2:] - window[:-2]) / (2.0 * dt)
            if stop == frames:  # and at the last frame
                velocities[-1] = 0.5 / dt * window[-3] + -2.0 / dt * window[-2] + 1.5 / dt * window[-1]
            previous = window[-2:].copy()
        if sums.defined:
            # the drift of the framework centre of mass since the first frame, from the same displacements
            drift = np.matmul(sums.weights, displacements[:, sums.framework]) / sums.weights.sum()
            sums.add(displacements, drift)
    return sums.result(cells), velocities


# -------------------------------------------------------------------------------------------------
# one trajectory, all vibrational descriptors
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VibrationalAnalysis:
    """The vibrational descriptors of one MD trajectory (DESIGN.md's diffusive–vibrational rows).

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
        """Return the scalar descriptors as a flat dict with the keys of DESIGN.md."""
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
