"""The MSD tensor and its diffusion tensor, the collective (charge) MSD, and the log–log slope of an MSD.
How they enter the transport descriptors: :mod:`.transport`."""

from __future__ import annotations

import numpy as np

from .constants import A2_PER_PS_TO_CM2_PER_S
from .msd import _PAIRS, _checked_max_lag, _msd_sums, compute_msd

# -------------------------------------------------------------------------------------------------
# MSD tensor and collective MSD
# -------------------------------------------------------------------------------------------------


def compute_msd_tensor(positions: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Return the MSD tensor ``M_ab(τ) = < Δr_a(τ) Δr_b(τ) >`` averaged over time origins and atoms.

    All time origins, in O(T log T), from the same FFTs as :func:`compute_msd` (whose result is
    the diagonal): the off-diagonal element ab sums the cross spectra Re(conj(X_a) X_b) of the
    atoms before one inverse FFT, exactly as the diagonal sums the power spectra |X_a|², so the
    tensor costs one transform per coordinate, like the MSD.

    :param positions: unwrapped Cartesian positions in Å, shape ``(frames, atoms, 3)``.
    :param max_lag: largest lag in frames (default: ``frames - 1``).
    :return: symmetric MSD tensor in Å², shape ``(max_lag + 1, 3, 3)``; its trace is the MSD.
    """
    positions = np.asarray(positions, dtype=float)
    diagonal, off_diagonal = _msd_sums(positions, _checked_max_lag(positions, max_lag), cross=True)
    return _msd_tensor(diagonal, off_diagonal)


def _msd_tensor(diagonal: np.ndarray, off_diagonal: np.ndarray) -> np.ndarray:
    """Assemble the symmetric MSD tensor ``(lags, 3, 3)`` from its diagonal and its (xy, yz, xz) elements."""
    tensor = np.zeros((diagonal.shape[0], 3, 3))
    tensor[:, [0, 1, 2], [0, 1, 2]] = diagonal
    for column, (a, b) in enumerate(_PAIRS):
        tensor[:, a, b] = tensor[:, b, a] = off_diagonal[:, column]
    return tensor


def fit_diffusion_tensor(lag_times_ps: np.ndarray, msd_tensor_A2: np.ndarray, fit_start_ps: float) -> np.ndarray:
    """Fit ``M_ab(τ) = 2 D_ab τ + c_ab`` by least squares over ``fit_start_ps ≤ τ ≤ τ_last``.

    The same window and ordinary least squares as :func:`fit_diffusion_coefficient`, element by
    element, so ``trace(D) / 3`` equals the scalar D of the total MSD (both are linear in the MSD).

    :param lag_times_ps: lag times in ps, increasing, shape ``(lags,)``.
    :param msd_tensor_A2: MSD tensor in Å², shape ``(lags, 3, 3)``.
    :param fit_start_ps: start of the window in ps; it ends at the last lag given.
    :return: the tracer diffusion tensor in cm²/s, shape ``(3, 3)``, symmetric.
    """
    lag_times_ps = np.asarray(lag_times_ps, dtype=float)
    msd_tensor_A2 = np.asarray(msd_tensor_A2, dtype=float)
    window = _fit_window(lag_times_ps, fit_start_ps)
    slopes = np.polyfit(lag_times_ps[window], msd_tensor_A2[window].reshape(-1, 9), 1)[0].reshape(3, 3)
    tensor = slopes / 2.0 * A2_PER_PS_TO_CM2_PER_S
    return 0.5 * (tensor + tensor.T)


def compute_collective_msd(positions: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Return the collective ("charge") MSD per direction, ``< (Σ_i Δx_i(τ))² > / N``.

    Averaged over all time origins (the FFT MSD of the summed positions); N is the number of
    ions given. For independent ions it equals the tracer MSD on average; correlated motion
    raises (concerted hops) or lowers it. D_σ = slope / 6 of its total.

    :param positions: unwrapped, drift-corrected Cartesian positions in Å of the N mobile ions,
        shape ``(frames, N, 3)``.
    :param max_lag: largest lag in frames (default: ``frames - 1``).
    :return: collective MSD in Å², shape ``(max_lag + 1, 3)``.
    """
    positions = np.asarray(positions, dtype=float)
    ions = positions.shape[1]
    if ions == 0:
        raise ValueError('the collective MSD needs at least 1 ion')
    return compute_msd(positions.sum(axis=1, keepdims=True), max_lag=max_lag) / ions


def msd_loglog_slope(lag_times_ps: np.ndarray, msd_A2: np.ndarray, fit_start_ps: float) -> float:
    """Return α, the least-squares slope of ln MSD against ln τ over ``fit_start_ps ≤ τ ≤ τ_last``.

    α = 1 for diffusion, < 1 for caged or sub-diffusive motion, 2 for ballistic motion. The raw
    MSD is used (nothing subtracted). NaN when the MSD is not positive everywhere in the window.

    :param lag_times_ps: lag times in ps, increasing, shape ``(lags,)``.
    :param msd_A2: total MSD in Å², shape ``(lags,)``.
    :param fit_start_ps: start of the window in ps, > 0.
    """
    lag_times_ps = np.asarray(lag_times_ps, dtype=float)
    msd_A2 = np.asarray(msd_A2, dtype=float)
    window = _fit_window(lag_times_ps, fit_start_ps) & (lag_times_ps > 0)
    if window.sum() < 2:
        raise ValueError(f'the window from {fit_start_ps} ps holds fewer than 2 positive lags')
    if np.any(msd_A2[window] <= 0):
        return float('nan')
    return float(np.polyfit(np.log(lag_times_ps[window]), np.log(msd_A2[window]), 1)[0])


def _fit_window(lag_times_ps: np.ndarray, fit_start_ps: float) -> np.ndarray:
    """The lags of the fit window, with the tolerance of ``fit_diffusion_coefficient``."""
    window = lag_times_ps >= fit_start_ps - 1e-12 * max(abs(fit_start_ps), 1.0)
    if window.sum() < 2:
        raise ValueError(f'the fit window from {fit_start_ps} ps holds fewer than 2 lags')
    return window
