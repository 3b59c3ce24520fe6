"""Ion transport beyond the paper's D: its uncertainty, the D tensor, charge diffusion, σ, a verdict.

Pure numpy/scipy (no AiiDA). Positions in Å, times in ps, MSD in Å², diffusion coefficients in
cm²/s, volumes in Å³, temperatures in K, conductivities in mS/cm unless a name says otherwise.
Arrays of positions have the shape ``(frames, atoms, 3)`` and are unwrapped and drift corrected
(as :func:`~aiida_superionic.descriptors.diffusion.analyse_tracer_diffusion` prepares them).

Every fit uses the paper's window (López et al. 2023, eq. 4): τmax = half the analysed run and an
ordinary least-squares line over τmax/2 ≤ τ ≤ τmax, so the numbers here sit beside the paper's D
without changing it.

**Uncertainty of D: the rule.** The MSD points of one run are strongly correlated (every lag
reuses the same displacements), so the least-squares error of the fit means nothing. The tracer
σ(D) is the spread over the mobile ions on the full run's own window (``diffusion_uncertainty_method``
``'ion_spread'``); block averaging is kept for what has no ions to spread over: the collective
D_σ, and the tracer D of a run with a single mobile ion (``'blocks'``).

*The spread over the ions* (:func:`~.block_averaging.ion_spread`). The paper's fit is linear in
the MSD and the MSD is the mean over the N mobile ions of each ion's own all-origins MSD, so the
paper's D is exactly the mean of the N per-ion D_i, each fitted over the same τmax/2..τmax. For
ions that move independently the D_i are independent, and
``σ(D) = t_{N−1} · s(D_i) / √N`` (s the sample standard deviation, t the two-sided 68.27 %
Student-t quantile of N − 1 degrees of freedom, 1.84 for 2 ions, → 1 for many). This is the
generalised-least-squares error of the fit with the covariance of the MSD over lags estimated
from the ions themselves rather than modelled: every time correlation of the MSD, non-Gaussian
jumps and a motion that is not yet diffusive are in the D_i, and the fit window is the full run's,
so there is no second, arbitrary window. It has no parameter: the ``blocks`` setting does not touch
it. Why not block averaging, as before: blocks probe lags ``blocks`` times shorter than the full
window, and on a real run those lags are not yet diffusive, so σ hung on the block count (kinisi's
Li6PS5Cl run, 192 Li, 14 ps: 1.0e-6 to 4.9e-6 cm²/s for 3 to 10 blocks, 1.8× kinisi's at 5),
while the few blocks that are long enough give a σ that is itself uncertain by ±50 %. On that run
the spread over the ions gives 1.33e-6 cm²/s whatever the blocks and 1.33–1.46e-6 with 0–4 ps
dropped as equilibration; kinisi 2.1's Bayesian GLS on the same window gives 1.7e-6
(``benchmarks/diffusion_uncertainty.py``). Its limit is the one kinisi shares (it counts every ion
as an independent sample too): ions whose motions are correlated (concerted hops) make the D_i
correlated, and σ is then low by √(1 + (N − 1) ρ̄) for a mean correlation ρ̄ between them; a Haven
ratio well below 1 is the sign.

*Block averaging* (:func:`~.block_averaging.block_analysis`, D_σ and single-ion runs):

* the run is cut into ``blocks`` equal, consecutive segments; in each the MSD is averaged over
  all its time origins and D fitted exactly as the paper does, with the window scaled to the
  segment (τmax_b = half the segment, fit over τmax_b/2 ≤ τ ≤ τmax_b);
* diffusion is self-similar (a Brownian path stretched in time by c is the same path scaled by
  √c), so a segment's estimate has the *same* distribution as the whole run's: the window grows
  with the run, each ion contributes only 2–4 independent displacements to it whatever the run
  length, and the relative error of the paper's D does not shrink with a longer run. The spread
  of the block values is therefore the standard deviation of the full-run D itself, **not**
  divided by √blocks (a calibration test over hundreds of random walks checks exactly this);
* with few blocks the sample standard deviation ``s`` is itself uncertain, so the reported
  "1σ" is ``t · s`` with ``t`` the Student-t quantile of ``blocks − 1`` degrees of freedom at the
  68.27 % two-sided level (1.14 for 5 blocks): the interval D ± 1σ then covers the true D 68 % of
  the time (measured: see the tests), not the 63 % a bare ``s`` gives. (For a 95 % interval use
  ``t_0.975 / t_0.841`` times the reported σ, 2.43 for 5 blocks, not 2.)

It needs no model of the motion and applies to the collective (charge) MSD, where there is one
"particle" and no ion to spread over. Its limits are those above: in a run not yet diffusive at
the blocks' lags the block values are biased (the 20 ps LGPS test run: blocks 2–5e-6 cm²/s, full
run 1.2e-6), and the σ of 5 blocks is itself only good to ±35 %, which the t factor covers on
average but which makes D_σ's σ move with the block count.

What to expect (random walks, measured): the paper's D of N independent ions has a relative
error of ≈ 0.87/√N whatever the run length; the collective D_σ, a single coordinate, has ≈ 0.9
for any N, so a Haven ratio from one run is an order of magnitude, not a precise number.

**The diffusivity verdict** (:func:`assess_diffusivity`) says whether D means anything:
``too_few_hops`` when fewer than ``min_hops`` hops were seen (with n hops D rests on Poisson
statistics with ~1/√n relative error: 10 hops is ~30 %, the loosest level at which D still
separates good from poor conductors); ``non_linear`` when the log–log slope
α = d ln MSD / d ln τ over the fit window (of the raw MSD, nothing subtracted) deviates from 1
by more than ``max(0.2, 3 σ_α)``. For a diffusive MSD with a vibrational offset c,
α ≈ 1 − c/MSD, so |α − 1| ≤ 0.2 means the non-diffusive part is under ~20 % of the MSD in the
window; α < 0.8 flags caged or sub-diffusive motion, α > 1.2 ballistic motion or a run too short.
σ_α = 0.52/√N is the sampling spread of α for N independent random walkers in this window
(measured over thousands of walks; it depends on N only, by self-similarity), so a truly
diffusive run of few ions is not condemned by noise alone (false alarm ≤ ~1 %); for N ≥ 62 ions
the test is exactly the band [0.8, 1.2]. The reduced χ² of the fit was rejected: it needs the
MSD covariance, which 5 blocks cannot estimate for dozens of lags.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.constants
import scipy.stats

from .block_averaging import (
    BLOCK_AVERAGING,
    DEFAULT_BLOCKS,
    ION_SPREAD,
    MIN_BLOCK_FRAMES,
    BlockAnalysis,
    IonSpread,
    block_analysis,
    ion_spread,
)
from .constants import A3_TO_M3, CM2_PER_S_TO_M2_PER_S, S_PER_M_TO_MS_PER_CM
from .diffusion import (
    DEFAULT_HOP_FRACTION,
    DEFAULT_HOP_SMOOTHING_PS,
    TracerDiffusion,
    _tracer_diffusion,
    analyse_tracer_diffusion,  # noqa: F401 (re-exported: part of this module's namespace)
)
from .msd import DiffusionFit, fit_diffusion_coefficient
from .msd_tensor import _msd_tensor, compute_collective_msd, fit_diffusion_tensor, msd_loglog_slope

#: Default minimum number of hops for a meaningful D (~30 % Poisson error at 10 hops).
DEFAULT_MIN_HOPS = 10

#: Largest |α − 1| of the log–log MSD slope α over the fit window still called linear.
DEFAULT_LOGLOG_SLOPE_TOLERANCE = 0.2

#: Sampling standard deviation of α for ONE random walker over the paper's window; for N
#: independent walkers it is this / √N (measured over 2000–4000 walks for N = 1, 4, 16, 64).
RANDOM_WALK_LOGLOG_SLOPE_SPREAD = 0.52

#: How many σ_α of pure sampling noise |α − 1| must exceed before ``non_linear`` is declared.
DEFAULT_LOGLOG_SLOPE_NOISE_SIGMAS = 3.0

#: Verdicts of ``assess_diffusivity``.
DIFFUSIVE = 'diffusive'
TOO_FEW_HOPS = 'too_few_hops'
NON_LINEAR = 'non_linear'


# -------------------------------------------------------------------------------------------------
# Haven ratio and Nernst–Einstein conductivity
# -------------------------------------------------------------------------------------------------


def haven_ratio(
    tracer_cm2_s: float, tracer_std_cm2_s: float, collective_cm2_s: float, collective_std_cm2_s: float
) -> tuple[float, float]:
    """Return the Haven ratio H_R = D* / D_σ and its first-order propagated 1σ.

    σ_H² = (σ*/D_σ)² + (D* σ_σ / D_σ²)², treating D* and D_σ as independent. From one run they
    are positively correlated (the same displacements), so this overstates σ_H slightly; and D_σ
    is the noisy one (one collective coordinate instead of N ions), so σ_H is dominated by it.
    First order is poor once σ_σ/D_σ ≳ 0.3: H_R is then skewed (read it as an order of magnitude).

    :return: ``(H_R, σ_H)``, both NaN when D_σ ≤ 0 (then there is no measurable charge diffusion).
    """
    if not collective_cm2_s > 0:
        return float('nan'), float('nan')
    ratio = tracer_cm2_s / collective_cm2_s
    std = np.hypot(tracer_std_cm2_s / collective_cm2_s, ratio * collective_std_cm2_s / collective_cm2_s)
    return float(ratio), float(std)


def nernst_einstein_conductivity(
    diffusion_coefficient_cm2_s: float | np.ndarray,
    ions: int,
    charge: int,
    volume_A3: float,
    temperature_K: float,
) -> float | np.ndarray:
    """Return the Nernst–Einstein conductivity σ = N (z e)² D / (V k_B T) in mS/cm.

    With the tracer D* it is the uncorrelated estimate σ_NE; with the collective D_σ it is the
    conductivity including ion–ion correlations (σ_NE / σ = H_R). CODATA e and k_B from
    ``scipy.constants``; D in cm²/s → m²/s (× 1e-4), V in Å³ → m³ (× 1e-30), σ in S/m → mS/cm
    (× 10). Linear in D, so it converts a standard deviation of D as well.

    :param diffusion_coefficient_cm2_s: D in cm²/s (a scalar or an array).
    :param ions: number N of mobile ions in the volume.
    :param charge: nominal charge z of the mobile ion in units of e (integer, non-zero, any sign).
    :param volume_A3: volume of the cell in Å³.
    :param temperature_K: temperature in K.
    """
    if int(ions) != ions or ions < 1:
        raise ValueError(f'ions must be a positive integer, got {ions}')
    if int(charge) != charge or charge == 0:
        raise ValueError(f'the nominal charge must be a non-zero integer, got {charge}')
    if not volume_A3 > 0 or not temperature_K > 0:
        raise ValueError(f'volume and temperature must be positive, got {volume_A3} Å³ and {temperature_K} K')
    number_density_m3 = ions / (volume_A3 * A3_TO_M3)
    diffusion_m2_s = np.asarray(diffusion_coefficient_cm2_s, dtype=float) * CM2_PER_S_TO_M2_PER_S
    charge_C = int(charge) * scipy.constants.e
    sigma_S_m = number_density_m3 * charge_C**2 * diffusion_m2_s / (scipy.constants.k * temperature_K)
    sigma_mS_cm = sigma_S_m * S_PER_M_TO_MS_PER_CM
    return float(sigma_mS_cm) if sigma_mS_cm.ndim == 0 else sigma_mS_cm


# -------------------------------------------------------------------------------------------------
# diffusivity verdict
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DiffusivityVerdict:
    """Whether a run's D describes diffusion, with the numbers behind the verdict.

    :ivar verdict: ``'diffusive'``, ``'too_few_hops'`` or ``'non_linear'``.
    :ivar reason: one human-readable sentence with the numbers.
    :ivar hops: mobile-ion hops seen in the analysed run.
    :ivar min_hops: the minimum number of hops required.
    :ivar loglog_slope: α = d ln MSD / d ln τ over the fit window (NaN when the MSD vanishes).
    :ivar loglog_slope_noise: σ_α of N independent random walkers, 0.52/√N.
    :ivar loglog_slope_tolerance: the largest |α − 1| accepted, max(tolerance, k σ_α).
    :ivar mobile_ions: N.
    """

    verdict: str
    reason: str
    hops: int
    min_hops: int
    loglog_slope: float
    loglog_slope_noise: float
    loglog_slope_tolerance: float
    mobile_ions: int

    @property
    def is_diffusive(self) -> bool:
        """True when the verdict is ``'diffusive'``."""
        return self.verdict == DIFFUSIVE


def assess_diffusivity(
    hops: int,
    loglog_slope: float,
    mobile_ions: int,
    min_hops: int = DEFAULT_MIN_HOPS,
    tolerance: float = DEFAULT_LOGLOG_SLOPE_TOLERANCE,
    noise_sigmas: float = DEFAULT_LOGLOG_SLOPE_NOISE_SIGMAS,
) -> DiffusivityVerdict:
    """Return the diffusivity verdict of a run (rules and their reasons: module docstring).

    1. ``hops < min_hops`` → ``'too_few_hops'``;
    2. α NaN (the MSD vanishes in the window) or ``|α − 1| > max(tolerance, noise_sigmas · 0.52/√N)``
       → ``'non_linear'``;
    3. otherwise ``'diffusive'``.

    :param hops: number of mobile-ion hops (e.g. ``TracerDiffusion.hops.hops``).
    :param loglog_slope: α from :func:`msd_loglog_slope` over the paper's window.
    :param mobile_ions: number N of mobile ions averaged in the MSD.
    :param min_hops: minimum number of hops.
    :param tolerance: largest |α − 1| called linear when sampling noise is small.
    :param noise_sigmas: multiple of the random-walk spread of α that |α − 1| must also exceed.
    """
    if mobile_ions < 1:
        raise ValueError(f'mobile_ions must be at least 1, got {mobile_ions}')
    noise = RANDOM_WALK_LOGLOG_SLOPE_SPREAD / np.sqrt(mobile_ions)
    accepted = max(tolerance, noise_sigmas * noise)
    numbers = {
        'hops': int(hops),
        'min_hops': int(min_hops),
        'loglog_slope': float(loglog_slope),
        'loglog_slope_noise': float(noise),
        'loglog_slope_tolerance': float(accepted),
        'mobile_ions': int(mobile_ions),
    }
    band = f'[{1 - accepted:.2f}, {1 + accepted:.2f}]'
    if hops < min_hops:
        verdict = TOO_FEW_HOPS
        reason = (
            f'only {hops} mobile-ion hop(s) in the analysed run, fewer than {min_hops}: the MSD is '
            'vibration or a few jumps, so D is not a diffusion coefficient (run longer or hotter)'
        )
    elif not np.isfinite(loglog_slope):
        verdict = NON_LINEAR
        reason = 'the MSD is not positive over the fit window, so it cannot be diffusive'
    elif abs(loglog_slope - 1.0) > accepted:
        verdict = NON_LINEAR
        kind = 'sub-diffusive or caged' if loglog_slope < 1 else 'super-diffusive (ballistic, or too short a run)'
        reason = (
            f'the MSD is {kind} over the fit window: its log-log slope is {loglog_slope:.2f}, '
            f'outside {band} ({hops} hops, {mobile_ions} ions)'
        )
    else:
        verdict = DIFFUSIVE
        reason = (
            f'{hops} hops (at least {min_hops}) and an MSD log-log slope of {loglog_slope:.2f} '
            f'within {band} over the fit window: D describes diffusion'
        )
    return DiffusivityVerdict(verdict=verdict, reason=reason, **numbers)


# -------------------------------------------------------------------------------------------------
# everything together
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Transport:
    """Transport of the mobile species from one NVT trajectory: the paper's D and beyond.

    :ivar tracer: the paper's tracer analysis (MSD, D over τmax/2..τmax, hops).
    :ivar blocks: the block analysis behind the collective uncertainty (and the tracer's with one mobile
        ion; its tracer values are NaN otherwise): fewer blocks than asked when the run is short, ``None``
        (and NaN) when it cannot hold two.
    :ivar ions: the per-ion D behind the tracer uncertainty (``None`` with a single mobile ion).
    :ivar uncertainty_method: how the tracer σ was estimated: ``'ion_spread'`` or ``'blocks'``.
    :ivar diffusion_coefficient_std_cm2_s: calibrated 1σ of the tracer D in cm²/s.
    :ivar msd_tensor_A2: MSD tensor in Å², shape ``(lags, 3, 3)``, lags as ``tracer.lag_times_ps``.
    :ivar diffusion_tensor_cm2_s: tracer D tensor in cm²/s, shape ``(3, 3)``.
    :ivar collective_msd_xyz_A2: collective MSD per direction in Å², shape ``(lags, 3)``.
    :ivar collective_fit: the fit of the collective MSD (its D is D_σ) over the paper's window.
    :ivar collective_diffusion_coefficient_std_cm2_s: calibrated 1σ of D_σ in cm²/s.
    :ivar haven_ratio: H_R = D*/D_σ (NaN when D_σ ≤ 0).
    :ivar haven_ratio_std: its propagated 1σ.
    :ivar nernst_einstein_conductivity_mS_cm: σ_NE from D* in mS/cm.
    :ivar nernst_einstein_conductivity_std_mS_cm: its 1σ.
    :ivar collective_conductivity_mS_cm: σ from D_σ in mS/cm.
    :ivar collective_conductivity_std_mS_cm: its 1σ.
    :ivar verdict: the diffusivity verdict.
    :ivar temperature_K: temperature in K used for σ.
    :ivar nominal_charge: nominal charge z of the mobile ion.
    :ivar volume_A3: mean cell volume over the analysed frames in Å³.
    """

    tracer: TracerDiffusion
    blocks: BlockAnalysis | None
    ions: IonSpread | None
    uncertainty_method: str
    diffusion_coefficient_std_cm2_s: float
    msd_tensor_A2: np.ndarray
    diffusion_tensor_cm2_s: np.ndarray
    collective_msd_xyz_A2: np.ndarray
    collective_fit: DiffusionFit
    collective_diffusion_coefficient_std_cm2_s: float
    haven_ratio: float
    haven_ratio_std: float
    nernst_einstein_conductivity_mS_cm: float
    nernst_einstein_conductivity_std_mS_cm: float
    collective_conductivity_mS_cm: float
    collective_conductivity_std_mS_cm: float
    verdict: DiffusivityVerdict
    temperature_K: float
    nominal_charge: int
    volume_A3: float

    @property
    def diffusion_coefficient_cm2_s(self) -> float:
        """The paper's tracer D in cm²/s."""
        return self.tracer.fit.diffusion_coefficient_cm2_s

    @property
    def collective_diffusion_coefficient_cm2_s(self) -> float:
        """The collective (charge) D_σ in cm²/s."""
        return self.collective_fit.diffusion_coefficient_cm2_s

    def descriptors(self) -> dict:
        """Return the scalar descriptors as a flat dict with unit-suffixed keys.

        ``diffusion_coefficient_cm2_s`` and ``msd_A2`` are the paper's (columns of the table, :mod:`.keys`); the others
        are stored beside the 54 columns. Undefined numbers (a Haven ratio without charge
        diffusion) are left out, since an AiiDA ``Dict`` cannot store NaN and the table reads a
        missing key as NaN. ``diffusion_tensor_cm2_s`` is a nested 3 × 3 list.
        """
        return drop_undefined(
            {
                'diffusion_coefficient_cm2_s': self.diffusion_coefficient_cm2_s,
                'msd_A2': self.tracer.fit.msd_at_fit_end_A2,
                'diffusion_coefficient_std_cm2_s': self.diffusion_coefficient_std_cm2_s,
                'diffusion_tensor_cm2_s': self.diffusion_tensor_cm2_s.tolist(),
                'collective_diffusion_coefficient_cm2_s': self.collective_diffusion_coefficient_cm2_s,
                'collective_diffusion_coefficient_std_cm2_s': self.collective_diffusion_coefficient_std_cm2_s,
                'collective_msd_A2': self.collective_fit.msd_at_fit_end_A2,
                'haven_ratio': self.haven_ratio,
                'haven_ratio_std': self.haven_ratio_std,
                'nernst_einstein_conductivity_mS_cm': self.nernst_einstein_conductivity_mS_cm,
                'nernst_einstein_conductivity_std_mS_cm': self.nernst_einstein_conductivity_std_mS_cm,
                'collective_conductivity_mS_cm': self.collective_conductivity_mS_cm,
                'collective_conductivity_std_mS_cm': self.collective_conductivity_std_mS_cm,
                'diffusivity_verdict': self.verdict.verdict,
                'diffusivity_reason': self.verdict.reason,
                'msd_loglog_slope': self.verdict.loglog_slope,
                'mobile_ion_hops': self.tracer.hops.hops,
                'diffusion_uncertainty_method': self.uncertainty_method,
                'uncertainty_ions': self.ions.ions if self.ions is not None else float('nan'),
                'uncertainty_blocks': self.blocks.blocks if self.blocks is not None else float('nan'),
                'conductivity_temperature_K': self.temperature_K,
                'nominal_charge': self.nominal_charge,
                'cell_volume_A3': self.volume_A3,
            }
        )


def drop_undefined(descriptors: dict) -> dict:
    """Return the descriptors without the keys whose value is a NaN or infinite number.

    The table's rule (docs/source/topics/architecture.md): a descriptor that cannot be given is absent (NaN in
    the table), never invented;
    AiiDA refuses to store NaN in a ``Dict``, so undefined numbers are left out here.
    """
    return {
        key: value for key, value in descriptors.items() if not (isinstance(value, float) and not np.isfinite(value))
    }


def analyse_transport(
    positions: np.ndarray,
    cells: np.ndarray,
    times_ps: np.ndarray,
    symbols: list[str] | tuple[str, ...],
    masses: np.ndarray,
    mobile_species: str,
    temperature_K: float,
    nominal_charge: int,
    equilibration_ps: float = 0.0,
    hop_fraction: float = DEFAULT_HOP_FRACTION,
    hop_smoothing_ps: float = DEFAULT_HOP_SMOOTHING_PS,
    blocks: int = DEFAULT_BLOCKS,
    min_hops: int = DEFAULT_MIN_HOPS,
    loglog_slope_tolerance: float = DEFAULT_LOGLOG_SLOPE_TOLERANCE,
) -> Transport:
    """Analyse the transport of the mobile species of one NVT trajectory.

    The tracer part is :func:`analyse_tracer_diffusion` (equilibration dropped, positions
    unwrapped, framework drift removed, MSD over all origins up to τmax = half the run, D over
    τmax/2..τmax). On the same corrected mobile-ion positions and the same window: the D tensor,
    the collective MSD and D_σ, block uncertainties, the Haven ratio, Nernst–Einstein
    conductivities (volume: the mean cell volume of the analysed frames) and the verdict.

    :param positions: Cartesian positions in Å, shape ``(frames, atoms, 3)``, wrapped or not.
    :param cells: cell vectors as rows in Å, shape ``(frames, 3, 3)`` or ``(3, 3)``.
    :param times_ps: time of each frame in ps, equally spaced, shape ``(frames,)``.
    :param symbols: chemical symbol per atom.
    :param masses: mass per atom in amu.
    :param mobile_species: element symbol of the mobile ion.
    :param temperature_K: temperature of the run in K (the thermostat's).
    :param nominal_charge: nominal charge z of the mobile ion (e.g. 1 for Li⁺, −1 for F⁻).
    :param equilibration_ps: time in ps discarded at the start.
    :param hop_fraction: hop distance as a fraction of the shortest mobile–mobile distance.
    :param hop_smoothing_ps: moving-average width in ps before hop counting.
    :param blocks: number of segments for the block uncertainties (of D_σ; of D* with one mobile ion).
    :param min_hops: minimum number of hops for a ``'diffusive'`` verdict.
    :param loglog_slope_tolerance: largest |α − 1| of the log–log MSD slope called linear.
    :raises ValueError: for invalid trajectories (as ``analyse_tracer_diffusion``), too few frames
        for the blocks, a non-positive temperature or a zero/non-integer charge.
    """
    if int(nominal_charge) != nominal_charge or nominal_charge == 0:
        raise ValueError(f'the nominal charge must be a non-zero integer, got {nominal_charge}')
    if not temperature_K > 0:
        raise ValueError(f'the temperature must be positive, got {temperature_K} K')
    if int(blocks) < 2:
        raise ValueError(f'block averaging needs at least 2 blocks, got {blocks}')
    # the tracer analysis and, from the same FFTs, the off-diagonal MSD-tensor elements
    tracer, off_diagonal = _tracer_diffusion(
        positions,
        cells,
        times_ps,
        symbols,
        masses,
        mobile_species,
        equilibration_ps=equilibration_ps,
        hop_fraction=hop_fraction,
        hop_smoothing_ps=hop_smoothing_ps,
        off_diagonal=True,
    )
    mobile, volume_A3 = tracer.mobile_positions, tracer.cell_volume_A3
    max_lag = len(tracer.lag_times_ps) - 1
    frame_interval_ps = float(tracer.lag_times_ps[1])
    fit_start_ps = tracer.fit.fit_start_ps

    msd_tensor = _msd_tensor(tracer.msd_xyz_A2, off_diagonal)  # = compute_msd_tensor(mobile, max_lag)
    diffusion_tensor = fit_diffusion_tensor(tracer.lag_times_ps, msd_tensor, fit_start_ps)

    collective_msd = compute_collective_msd(mobile, max_lag=max_lag)
    collective_fit = fit_diffusion_coefficient(tracer.lag_times_ps, collective_msd.sum(axis=1), fit_start_ps)
    # A run too short for the blocks asked gets as many as it can hold (at least 2), or no
    # uncertainty at all: D itself is still the paper's, and the missing σ says the run is short.
    usable_blocks = min(int(blocks), mobile.shape[0] // MIN_BLOCK_FRAMES)
    # the blocks' tracer D only when they give D*'s σ (a single mobile ion): a whole MSD pass otherwise unused
    single = tracer.mobile_ions < 2
    block_result = (
        block_analysis(mobile, frame_interval_ps, blocks=usable_blocks, tracer=single) if usable_blocks >= 2 else None
    )

    # The tracer σ from the spread of the per-ion D on the full run's own window (the rule: module
    # docstring); blocks only when there is no spread to take, a single mobile ion.
    ions = None if single else ion_spread(mobile, tracer.lag_times_ps, fit_start_ps)

    tracer_D = tracer.fit.diffusion_coefficient_cm2_s
    collective_D = collective_fit.diffusion_coefficient_cm2_s
    nan = float('nan')
    collective_std = nan if block_result is None else block_result.collective_diffusion_coefficient_std_cm2_s
    if ions is not None:
        tracer_std, method = ions.diffusion_coefficient_std_cm2_s, ION_SPREAD
    else:
        tracer_std = nan if block_result is None else block_result.diffusion_coefficient_std_cm2_s
        method = BLOCK_AVERAGING
    ratio, ratio_std = haven_ratio(tracer_D, tracer_std, collective_D, collective_std)

    def conductivity(value: float) -> float:
        return nernst_einstein_conductivity(value, tracer.mobile_ions, int(nominal_charge), volume_A3, temperature_K)

    verdict = assess_diffusivity(
        tracer.hops.hops,
        msd_loglog_slope(tracer.lag_times_ps, tracer.msd_A2, fit_start_ps),
        tracer.mobile_ions,
        min_hops=min_hops,
        tolerance=loglog_slope_tolerance,
    )
    return Transport(
        tracer=tracer,
        blocks=block_result,
        ions=ions,
        uncertainty_method=method,
        diffusion_coefficient_std_cm2_s=tracer_std,
        msd_tensor_A2=msd_tensor,
        diffusion_tensor_cm2_s=diffusion_tensor,
        collective_msd_xyz_A2=collective_msd,
        collective_fit=collective_fit,
        collective_diffusion_coefficient_std_cm2_s=collective_std,
        haven_ratio=ratio,
        haven_ratio_std=ratio_std,
        nernst_einstein_conductivity_mS_cm=conductivity(tracer_D),
        nernst_einstein_conductivity_std_mS_cm=conductivity(tracer_std),
        collective_conductivity_mS_cm=conductivity(collective_D),
        collective_conductivity_std_mS_cm=conductivity(collective_std),
        verdict=verdict,
        temperature_K=float(temperature_K),
        nominal_charge=int(nominal_charge),
        volume_A3=volume_A3,
    )
