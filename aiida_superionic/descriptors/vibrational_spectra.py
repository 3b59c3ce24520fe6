"""Vibrational spectra of an MD trajectory: velocities and their sampling rule, the windowed-VACF spectra,
and their moments (mean frequencies, Debye temperature). The method and its units: :mod:`.vibrations`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import scipy.fft

from .constants import DIMENSIONS, FS_PER_PS, BOLTZMANN_eV_K, PLANCK_meV_ps
from .msd import _fft_length, _fill_time_rows

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
