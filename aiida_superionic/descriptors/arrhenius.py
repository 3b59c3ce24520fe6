"""Arrhenius fit of tracer diffusion coefficients over temperature, and extrapolation to 300 K.

Pure numpy/scipy (no AiiDA). Temperatures in K, diffusion coefficients in cm²/s, activation
energies in eV, conductivities in mS/cm.

Model: D(T) = D0 exp(−Ea / k_B T), fitted as the straight line ln D = ln D0 − Ea · 1/(k_B T) in
the parameters (Ea, ln D0):

* **weighted** when every D has an uncertainty σ_D (e.g. the block 1σ of
  :mod:`~aiida_superionic.descriptors.transport`): weights 1/σ_lnD² with σ_lnD = σ_D / D (first
  order, good for σ_D/D ≲ 0.3). The σ are taken as absolute (the covariance is (AᵀWA)⁻¹, not
  rescaled by the scatter), so with correct σ the Ea ± σ_Ea interval covers the true Ea 68 % of the
  time even with 2 or 3 temperatures. The reduced χ² and its p-value say whether the scatter
  agrees with the stated σ; ``scale_by_scatter=True`` inflates the covariance by max(1, χ²/ν)
  (Birge ratio) when it does not.
* **unweighted** otherwise (stated in ``warning``): ordinary least squares, the same as
  pymatgen-analysis-diffusion's ``fit_arrhenius(mode='linear')``, with the covariance from the
  scatter about the line, s² (AᵀA)⁻¹, s² = RSS/(n − 2). Its standard errors equal pymatgen's
  ``std_Ea``; the 68 % intervals use Student's t with n − 2 degrees of freedom (t = 1.84 for 3
  temperatures), since s is estimated from few points. With 2 temperatures the line passes through
  both points and the scatter gives no uncertainty: the errors are NaN.

Extrapolation to any T (300 K by default) propagates the full covariance of (Ea, ln D0):
var ln D(T) = var ln D0 + var Ea/(k_B T)² − 2 cov(Ea, ln D0)/(k_B T), and the 68 % interval is
exp(ln D ± c σ_lnD) (asymmetric in D; c = 1 or the t factor). The conductivity follows by
Nernst–Einstein with the MD cell's N and V (thermal expansion down to 300 K is neglected).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.stats

from .block_averaging import student_t_factor
from .constants import BOLTZMANN_eV_K
from .transport import drop_undefined, nernst_einstein_conductivity

#: Default temperature in K of the extrapolated D and σ (room temperature).
ROOM_TEMPERATURE_K = 300.0

#: p-value of χ² below which the scatter is reported as inconsistent with the stated σ_D.
CHI_SQUARED_WARNING_P_VALUE = 0.01


@dataclasses.dataclass(frozen=True)
class ArrheniusExtrapolation:
    """A quantity extrapolated along the Arrhenius line, with its 68.27 % interval.

    :ivar temperature_K: temperature in K.
    :ivar value: the fitted value (units as the quantity: cm²/s for D, mS/cm for σ).
    :ivar lower: lower end of the 68.27 % interval (NaN when the fit has no uncertainty).
    :ivar upper: upper end of the 68.27 % interval.
    :ivar ln_std: standard error of ln(value).
    """

    temperature_K: float
    value: float
    lower: float
    upper: float
    ln_std: float


@dataclasses.dataclass(frozen=True)
class ArrheniusFit:
    """The Arrhenius fit D = D0 exp(−Ea / k_B T) of diffusion coefficients at several temperatures.

    :ivar activation_energy_eV: Ea in eV.
    :ivar activation_energy_std_eV: standard error of Ea in eV.
    :ivar prefactor_cm2_s: D0 in cm²/s.
    :ivar prefactor_std_cm2_s: first-order standard error of D0 in cm²/s (D0 · σ_lnD0).
    :ivar ln_prefactor_std: standard error of ln(D0 / (cm²/s)).
    :ivar covariance: covariance of (Ea [eV], ln(D0 / (cm²/s))), shape ``(2, 2)``.
    :ivar coverage_factor: multiplier of the standard errors for 68.27 % intervals (1 for a
        weighted fit, Student's t with n − 2 degrees of freedom for an unweighted one).
    :ivar temperatures_K: the temperatures fitted, K.
    :ivar diffusion_coefficients_cm2_s: the D fitted, cm²/s.
    :ivar diffusion_coefficient_stds_cm2_s: their uncertainties in cm²/s, or None (unweighted).
    :ivar weighted: whether the fit used the D uncertainties.
    :ivar degrees_of_freedom: n − 2.
    :ivar chi_squared: Σ (residual / σ_lnD)² (weighted) or RSS of ln D (unweighted).
    :ivar reduced_chi_squared: χ² / (n − 2) (NaN for 2 temperatures).
    :ivar warning: what limits the uncertainties ('' when nothing does).
    """

    activation_energy_eV: float
    activation_energy_std_eV: float
    prefactor_cm2_s: float
    prefactor_std_cm2_s: float
    ln_prefactor_std: float
    covariance: np.ndarray
    coverage_factor: float
    temperatures_K: np.ndarray
    diffusion_coefficients_cm2_s: np.ndarray
    diffusion_coefficient_stds_cm2_s: np.ndarray | None
    weighted: bool
    degrees_of_freedom: int
    chi_squared: float
    reduced_chi_squared: float
    warning: str

    @property
    def covariance_activation_energy_prefactor_eV_cm2_s(self) -> float:
        """First-order covariance of Ea (eV) and D0 (cm²/s): D0 · cov(Ea, ln D0)."""
        return float(self.prefactor_cm2_s * self.covariance[0, 1])

    def ln_diffusion_coefficient_at(self, temperature_K: float) -> tuple[float, float]:
        """Return ln D(T) (D in cm²/s) and its standard error from the full covariance."""
        if not temperature_K > 0:
            raise ValueError(f'the temperature must be positive, got {temperature_K} K')
        gradient = np.array([-1.0 / (BOLTZMANN_eV_K * temperature_K), 1.0])  # d lnD / d(Ea, lnD0)
        value = np.log(self.prefactor_cm2_s) + gradient[0] * self.activation_energy_eV
        variance = gradient @ self.covariance @ gradient
        return float(value), float(np.sqrt(variance)) if variance >= 0 else float('nan')

    def diffusion_coefficient_at(self, temperature_K: float = ROOM_TEMPERATURE_K) -> ArrheniusExtrapolation:
        """Return D(T) in cm²/s with its 68.27 % interval (propagated covariance)."""
        value, std = self.ln_diffusion_coefficient_at(temperature_K)
        half_width = self.coverage_factor * std
        return ArrheniusExtrapolation(
            temperature_K=float(temperature_K),
            value=float(np.exp(value)),
            lower=float(np.exp(value - half_width)),
            upper=float(np.exp(value + half_width)),
            ln_std=std,
        )

    def conductivity_at(
        self, ions: int, charge: int, volume_A3: float, temperature_K: float = ROOM_TEMPERATURE_K
    ) -> ArrheniusExtrapolation:
        """Return the Nernst–Einstein σ(T) in mS/cm from the extrapolated D, with its interval.

        :param ions: number N of mobile ions in the cell.
        :param charge: nominal charge z of the mobile ion.
        :param volume_A3: cell volume in Å³ (of the MD cell: thermal expansion is neglected).
        :param temperature_K: temperature in K.
        """
        diffusion = self.diffusion_coefficient_at(temperature_K)
        values = nernst_einstein_conductivity(
            np.array([diffusion.value, diffusion.lower, diffusion.upper]), ions, charge, volume_A3, temperature_K
        )
        return ArrheniusExtrapolation(
            temperature_K=float(temperature_K),
            value=float(values[0]),
            lower=float(values[1]),
            upper=float(values[2]),
            ln_std=diffusion.ln_std,
        )

    def descriptors(
        self,
        ions: int | None = None,
        charge: int | None = None,
        volume_A3: float | None = None,
        temperature_K: float = ROOM_TEMPERATURE_K,
    ) -> dict:
        """Return the per-material scalars as a flat dict with unit-suffixed keys.

        Extrapolated keys name their temperature (``diffusion_coefficient_300K_cm2_s``); the
        conductivity keys are present only when ``ions``, ``charge`` and ``volume_A3`` are given.
        Undefined numbers (the errors of an unweighted 2-temperature fit, χ² of 2 points) are left
        out: an AiiDA ``Dict`` cannot store NaN and the table reads a missing key as NaN.
        """
        tag = f'{temperature_K:g}K'
        diffusion = self.diffusion_coefficient_at(temperature_K)
        result = {
            'activation_energy_eV': self.activation_energy_eV,
            'activation_energy_std_eV': self.activation_energy_std_eV,
            'arrhenius_prefactor_cm2_s': self.prefactor_cm2_s,
            'arrhenius_prefactor_std_cm2_s': self.prefactor_std_cm2_s,
            'arrhenius_ln_prefactor_std': self.ln_prefactor_std,
            'arrhenius_covariance_activation_energy_ln_prefactor_eV': float(self.covariance[0, 1]),
            'arrhenius_temperatures': len(self.temperatures_K),
            'arrhenius_weighted': self.weighted,
            'arrhenius_reduced_chi_squared': self.reduced_chi_squared,
            'arrhenius_warning': self.warning,
            f'diffusion_coefficient_{tag}_cm2_s': diffusion.value,
            f'diffusion_coefficient_{tag}_lower_cm2_s': diffusion.lower,
            f'diffusion_coefficient_{tag}_upper_cm2_s': diffusion.upper,
        }
        if ions is not None and charge is not None and volume_A3 is not None:
            conductivity = self.conductivity_at(ions, charge, volume_A3, temperature_K)
            result[f'conductivity_{tag}_mS_cm'] = conductivity.value
            result[f'conductivity_{tag}_lower_mS_cm'] = conductivity.lower
            result[f'conductivity_{tag}_upper_mS_cm'] = conductivity.upper
        return drop_undefined(result)


def fit_arrhenius(
    temperatures_K: np.ndarray,
    diffusion_coefficients_cm2_s: np.ndarray,
    diffusion_coefficient_stds_cm2_s: np.ndarray | None = None,
    scale_by_scatter: bool = False,
) -> ArrheniusFit:
    """Fit ln D = ln D0 − Ea / (k_B T) by (weighted) least squares (see the module docstring).

    :param temperatures_K: temperatures in K, at least 2 distinct, shape ``(n,)``.
    :param diffusion_coefficients_cm2_s: D in cm²/s, all > 0, shape ``(n,)``.
    :param diffusion_coefficient_stds_cm2_s: 1σ of each D in cm²/s (all > 0), or None for an
        unweighted fit.
    :param scale_by_scatter: with weights, multiply the covariance by max(1, χ²/(n − 2)).
    :raises ValueError: for fewer than 2 distinct temperatures, non-positive or non-finite D, T or σ.
    """
    temperatures = np.asarray(temperatures_K, dtype=float).ravel()
    diffusion = np.asarray(diffusion_coefficients_cm2_s, dtype=float).ravel()
    count = temperatures.size
    if count < 2 or np.unique(temperatures).size < 2:
        raise ValueError(
            f'an Arrhenius fit needs at least 2 distinct temperatures, got {temperatures.tolist()} '
            '(and 2 give no uncertainty estimate from the scatter: 3 or more are recommended)'
        )
    if diffusion.size != count:
        raise ValueError(f'{count} temperatures but {diffusion.size} diffusion coefficients')
    if not np.all(np.isfinite(temperatures) & (temperatures > 0)):
        raise ValueError(f'temperatures must be finite and positive, got {temperatures.tolist()}')
    if not np.all(np.isfinite(diffusion) & (diffusion > 0)):
        raise ValueError(
            f'diffusion coefficients must be finite and positive for ln D, got {diffusion.tolist()}: '
            'leave out the temperatures at which the ions do not diffuse'
        )
    stds = None
    if diffusion_coefficient_stds_cm2_s is not None:
        stds = np.asarray(diffusion_coefficient_stds_cm2_s, dtype=float).ravel()
        if stds.size != count or not np.all(np.isfinite(stds) & (stds > 0)):
            raise ValueError(f'the D uncertainties must be {count} finite positive numbers, got {stds.tolist()}')

    design = np.column_stack([-1.0 / (BOLTZMANN_eV_K * temperatures), np.ones(count)])  # (Ea, ln D0)
    response = np.log(diffusion)
    sigma_ln = stds / diffusion if stds is not None else np.ones(count)
    weighted_design = design / sigma_ln[:, None]
    parameters, *_ = np.linalg.lstsq(weighted_design, response / sigma_ln, rcond=None)
    residuals = (response - design @ parameters) / sigma_ln
    chi_squared = float(residuals @ residuals)
    dof = count - 2
    reduced = chi_squared / dof if dof > 0 else float('nan')
    unscaled = np.linalg.inv(weighted_design.T @ weighted_design)

    warnings = []
    if stds is not None:
        covariance = unscaled
        coverage = 1.0
        if dof == 0:
            warnings.append(
                'only 2 temperatures: the uncertainties come from the stated D errors alone; '
                'the scatter cannot check them (0 degrees of freedom)'
            )
        else:
            p_value = float(scipy.stats.chi2.sf(chi_squared, dof))
            if scale_by_scatter and reduced > 1:
                covariance = unscaled * reduced
            if p_value < CHI_SQUARED_WARNING_P_VALUE:
                warnings.append(
                    f'the scatter about the Arrhenius line exceeds the stated D errors (χ²/ν = {reduced:.2f}, '
                    f'p = {p_value:.2g}): non-Arrhenius behaviour or underestimated errors'
                    + ('; covariance scaled by χ²/ν' if scale_by_scatter else '')
                )
    else:
        warnings.append('no D uncertainties given: unweighted fit, errors from the scatter about the line')
        if dof == 0:
            covariance = np.full((2, 2), np.nan)
            coverage = float('nan')
            warnings.append('2 temperatures give no uncertainty estimate from the scatter')
        else:
            covariance = unscaled * reduced
            coverage = student_t_factor(dof)

    activation_energy, ln_prefactor = (float(value) for value in parameters)
    prefactor = float(np.exp(ln_prefactor))
    ln_prefactor_std = float(np.sqrt(covariance[1, 1]))
    return ArrheniusFit(
        activation_energy_eV=activation_energy,
        activation_energy_std_eV=float(np.sqrt(covariance[0, 0])),
        prefactor_cm2_s=prefactor,
        prefactor_std_cm2_s=prefactor * ln_prefactor_std,
        ln_prefactor_std=ln_prefactor_std,
        covariance=covariance,
        coverage_factor=coverage,
        temperatures_K=temperatures,
        diffusion_coefficients_cm2_s=diffusion,
        diffusion_coefficient_stds_cm2_s=stds,
        weighted=stds is not None,
        degrees_of_freedom=dof,
        chi_squared=chi_squared,
        reduced_chi_squared=reduced,
        warning='; '.join(warnings),
    )
