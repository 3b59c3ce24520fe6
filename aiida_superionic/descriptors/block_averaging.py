"""The uncertainties of D: the spread over the mobile ions (tracer D) and block averaging with the same
relative fit window (collective D_σ, and the tracer D of a single mobile ion). Why these estimators, the
rule that picks one, and their limits: :mod:`.transport`."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.constants
import scipy.fft
import scipy.stats

from .constants import A2_PER_PS_TO_CM2_PER_S, DIMENSIONS, ONE_SIGMA_PROBABILITY
from .msd import TIME_CONTIGUOUS_COLUMN_BATCH, compute_msd, fit_diffusion_coefficient, paper_fit_window
from .msd_tensor import compute_collective_msd

#: Default number of consecutive blocks for the block uncertainties (5: blocks of 20–40 ps for the
#: paper's 100–200 ps runs, so their fit windows of 5–20 ps stay in the diffusive regime).
DEFAULT_BLOCKS = 5

#: ``diffusion_uncertainty_method`` of a tracer σ from the spread of the per-ion D (≥ 2 mobile ions).
ION_SPREAD = 'ion_spread'

#: ``diffusion_uncertainty_method`` of a tracer σ from consecutive blocks (a single mobile ion).
BLOCK_AVERAGING = 'blocks'


# -------------------------------------------------------------------------------------------------
# uncertainties by block averaging
# -------------------------------------------------------------------------------------------------


def one_sigma_half_width(values: np.ndarray) -> float:
    """Return ``t · s``: the half-width of a 68.27 % interval from the spread of a few estimates.

    ``s`` is the sample standard deviation of the n values and ``t`` the two-sided 68.27 %
    quantile of Student's t with n − 1 degrees of freedom, so that ``x ± t·s`` covers the truth
    68.27 % of the time when ``x`` has the distribution of one of the values (not of their mean).

    :param values: at least 2 independent estimates of the same quantity.
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        raise ValueError(f'a spread needs at least 2 values, got {values.size}')
    return float(student_t_factor(values.size - 1) * values.std(ddof=1))


def student_t_factor(degrees_of_freedom: int) -> float:
    """Two-sided 68.27 % quantile of Student's t (→ 1 for many degrees of freedom)."""
    return float(scipy.stats.t.ppf(0.5 + ONE_SIGMA_PROBABILITY / 2, degrees_of_freedom))


@dataclasses.dataclass(frozen=True)
class BlockAnalysis:
    """Tracer and collective D of consecutive, equal segments of a run (same relative window).

    :ivar blocks: number of segments.
    :ivar frames_per_block: frames per segment (trailing frames beyond ``blocks × frames_per_block``
        are not used here).
    :ivar fit_start_ps: start of each segment's fit window in ps (τmax_b / 2).
    :ivar fit_end_ps: end of each segment's fit window in ps (τmax_b, half a segment).
    :ivar diffusion_coefficients_cm2_s: tracer D of each segment in cm²/s, shape ``(blocks,)`` (NaN when
        not asked for).
    :ivar collective_diffusion_coefficients_cm2_s: collective D_σ of each segment in cm²/s.
    :ivar coverage_factor: the Student-t factor applied to the sample standard deviations.
    """

    blocks: int
    frames_per_block: int
    fit_start_ps: float
    fit_end_ps: float
    diffusion_coefficients_cm2_s: np.ndarray
    collective_diffusion_coefficients_cm2_s: np.ndarray
    coverage_factor: float

    @property
    def diffusion_coefficient_std_cm2_s(self) -> float:
        """Calibrated 1σ (68.27 % half-width) of the full run's tracer D in cm²/s."""
        return one_sigma_half_width(self.diffusion_coefficients_cm2_s)

    @property
    def collective_diffusion_coefficient_std_cm2_s(self) -> float:
        """Calibrated 1σ (68.27 % half-width) of the full run's collective D_σ in cm²/s."""
        return one_sigma_half_width(self.collective_diffusion_coefficients_cm2_s)


@dataclasses.dataclass(frozen=True)
class IonSpread:
    """The paper's D of each mobile ion on the full run's window, whose mean is the paper's D.

    :ivar diffusion_coefficients_cm2_s: D of each ion in cm²/s, shape ``(ions,)``: the least-squares
        slope / 6 of the ion's own MSD (all time origins) over the full run's fit window.
    :ivar fit_start_ps: start of the fit window in ps (τmax / 2).
    :ivar fit_end_ps: end of the fit window in ps (τmax).
    :ivar coverage_factor: the Student-t factor of ``ions − 1`` degrees of freedom.
    """

    diffusion_coefficients_cm2_s: np.ndarray
    fit_start_ps: float
    fit_end_ps: float
    coverage_factor: float

    @property
    def ions(self) -> int:
        """Number of mobile ions."""
        return int(self.diffusion_coefficients_cm2_s.size)

    @property
    def diffusion_coefficient_cm2_s(self) -> float:
        """Mean of the per-ion D: the paper's D of the full run (the fit is linear in the MSD)."""
        return float(self.diffusion_coefficients_cm2_s.mean())

    @property
    def diffusion_coefficient_std_cm2_s(self) -> float:
        """Calibrated 1σ (68.27 % half-width) of the paper's D in cm²/s: ``t · s / √ions``."""
        return float(one_sigma_half_width(self.diffusion_coefficients_cm2_s) / np.sqrt(self.ions))


#: Ions Fourier-transformed together in :func:`ion_spread`: ``msd.TIME_CONTIGUOUS_COLUMN_BATCH`` columns, whose
#: transforms stay in the processor's cache and add little to the analysis' peak memory (32 ions per batch
#: raised it from 0.62 to 0.96 times the positions in ``benchmarks/trajectory_descriptors.py`` at 5000 frames).
ION_BATCH = TIME_CONTIGUOUS_COLUMN_BATCH // DIMENSIONS


def per_ion_slopes(positions: np.ndarray, lag_times_ps: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Return each ion's least-squares MSD slope in Å²/ps over the lags ``window``, shape ``(ions,)``.

    The slope is linear in the MSD, ``Σ_m a_m MSD_i(m)`` with the least-squares weights a_m, and the
    MSD of the FFT algorithm (Kneller et al., as :func:`.msd.compute_msd`) is
    ``MSD_i(m) = (Q_i(m) − 2 C_i(m)) / (F − m)``, with Q_i from cumulative sums of squares and
    ``C_i = irfft(P_i)`` the autocorrelation from the power spectrum P_i of the ion's three coordinates.
    So ``Σ_m b_m C_i(m) = Σ_k g_k P_i(k)``, b_m = a_m / (F − m), with g = the adjoint of the inverse
    transform applied to b (``c_k Re rfft(b)_k / L``, c_k = 1 at k = 0 and L/2, 2 elsewhere): one
    forward transform per coordinate, batches of ``ION_BATCH`` ions, no inverse transform and no
    per-ion MSD array.

    :param positions: unwrapped positions in Å, shape ``(frames, ions, 3)``.
    :param lag_times_ps: lag times in ps, ``0, Δt, 2Δt, …`` (index = lag in frames).
    :param window: boolean mask of the lags of the fit, at least 2.
    """
    positions = np.asarray(positions, dtype=float)
    frames, ions, _ = positions.shape
    lags = np.flatnonzero(window)
    x = np.asarray(lag_times_ps, dtype=float)[lags]
    weights = (x - x.mean()) / np.sum((x - x.mean()) ** 2)  # slope = Σ weights · y
    per_origin = weights / (frames - lags)  # b_m
    length = scipy.fft.next_fast_len(frames + int(lags[-1]), real=True)  # exact linear correlations
    padded = np.zeros(length)
    padded[lags] = per_origin
    adjoint = scipy.fft.rfft(padded).real * (2.0 / length)
    adjoint[0] /= 2.0
    if length % 2 == 0:
        adjoint[-1] /= 2.0
    slopes = np.empty(ions)
    for start in range(0, ions, ION_BATCH):
        stop = min(start + ION_BATCH, ions)
        rows = positions[:, start:stop].transpose(1, 2, 0)  # (ions, directions, frames)
        rows = rows - rows.mean(axis=-1, keepdims=True)  # a copy, centred: the MSD is shift invariant
        spectrum = scipy.fft.rfft(rows, n=length, axis=-1)
        power = (spectrum.real**2 + spectrum.imag**2).sum(axis=1)
        cumulative = np.zeros((stop - start, frames + 1))
        np.cumsum(np.einsum('akt,akt->at', rows, rows), axis=1, out=cumulative[:, 1:])
        # Σ over origins t0 < frames - m of |x(t0)|² + |x(t0 + m)|², at the window's lags m
        squares = cumulative[:, frames - lags] + (cumulative[:, frames : frames + 1] - cumulative[:, lags])
        slopes[start:stop] = squares @ per_origin - 2.0 * (power @ adjoint)
    return slopes


def ion_spread(positions: np.ndarray, lag_times_ps: np.ndarray, fit_start_ps: float) -> IonSpread:
    """Fit the paper's D of every mobile ion on the full run's window (σ of their mean: :mod:`.transport`).

    :param positions: unwrapped, drift-corrected positions in Å of the mobile ions,
        shape ``(frames, ions, 3)``, at least 2 ions.
    :param lag_times_ps: lag times in ps of the full run's MSD, ``0 .. τmax`` (its last lag ends the window).
    :param fit_start_ps: start of the full run's fit window in ps.
    """
    positions = np.asarray(positions, dtype=float)
    lag_times_ps = np.asarray(lag_times_ps, dtype=float)
    ions = positions.shape[1]
    if ions < 2:
        raise ValueError(f'a spread over the ions needs at least 2 mobile ions, got {ions}')
    fit = fit_diffusion_coefficient(lag_times_ps, lag_times_ps, fit_start_ps)  # the window of the paper's fit
    window = (lag_times_ps >= fit.fit_start_ps) & (lag_times_ps <= fit.fit_end_ps)
    slopes = per_ion_slopes(positions, lag_times_ps, window)
    return IonSpread(
        diffusion_coefficients_cm2_s=slopes / (2 * DIMENSIONS) * A2_PER_PS_TO_CM2_PER_S,
        fit_start_ps=fit.fit_start_ps,
        fit_end_ps=fit.fit_end_ps,
        coverage_factor=student_t_factor(ions - 1),
    )


#: Frames a block needs for the paper's window (τmax = half the block, fit over τmax/2..τmax).
MIN_BLOCK_FRAMES = 5


def block_analysis(
    positions: np.ndarray, frame_interval_ps: float, blocks: int = DEFAULT_BLOCKS, tracer: bool = True
) -> BlockAnalysis:
    """Fit tracer and collective D in each of ``blocks`` consecutive segments of the run.

    Each segment is analysed exactly as the paper analyses a whole run (MSD over all its time
    origins up to half the segment, least squares over the second half of those lags), so the
    spread of the segment values is the uncertainty of the full-run value (see the module
    docstring for why it is not divided by √blocks).

    :param positions: unwrapped, drift-corrected positions in Å of the mobile ions,
        shape ``(frames, ions, 3)``.
    :param frame_interval_ps: time between frames in ps.
    :param blocks: number of segments, ≥ 2 (each needs ≥ 5 frames).
    :param tracer: fit the tracer D of each segment too; without it they are NaN (``analyse_transport``
        takes D*'s σ from the ions whenever there are two, and skips this MSD pass then).
    """
    positions = np.asarray(positions, dtype=float)
    blocks = int(blocks)
    if blocks < 2:
        raise ValueError(f'block averaging needs at least 2 blocks, got {blocks}')
    if frame_interval_ps <= 0:
        raise ValueError(f'frame_interval_ps must be positive, got {frame_interval_ps}')
    frames = positions.shape[0]
    length = frames // blocks
    if length < MIN_BLOCK_FRAMES:
        raise ValueError(
            f'{frames} frames are too few for {blocks} blocks (each needs at least {MIN_BLOCK_FRAMES} frames): '
            'use fewer blocks'
        )
    first, last = paper_fit_window(length)
    lag_times_ps = np.arange(last + 1) * float(frame_interval_ps)
    tracer_values = np.full(blocks, np.nan)
    collective = np.empty(blocks)
    for block in range(blocks):
        segment = positions[block * length : (block + 1) * length]
        if tracer:
            msd = compute_msd(segment, max_lag=last).sum(axis=1)
            tracer_values[block] = fit_diffusion_coefficient(
                lag_times_ps, msd, lag_times_ps[first]
            ).diffusion_coefficient_cm2_s
        collective_msd = compute_collective_msd(segment, max_lag=last).sum(axis=1)
        collective[block] = fit_diffusion_coefficient(
            lag_times_ps, collective_msd, lag_times_ps[first]
        ).diffusion_coefficient_cm2_s
    return BlockAnalysis(
        blocks=blocks,
        frames_per_block=length,
        fit_start_ps=float(lag_times_ps[first]),
        fit_end_ps=float(lag_times_ps[last]),
        diffusion_coefficients_cm2_s=tracer_values,
        collective_diffusion_coefficients_cm2_s=collective,
        coverage_factor=student_t_factor(blocks - 1),
    )
