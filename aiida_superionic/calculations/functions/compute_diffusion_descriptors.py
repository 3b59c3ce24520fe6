"""Calcfunction: tracer MSD, diffusion coefficient and hop count of the mobile species of a trajectory."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction
from ase.data import atomic_masses, atomic_numbers

from ...common.trajectory import trajectory_arrays
from ...descriptors.diffusion import DEFAULT_HOP_FRACTION, DEFAULT_HOP_SMOOTHING_PS, analyse_tracer_diffusion

#: Settings of the analysis and their defaults.
DEFAULT_SETTINGS = {
    'equilibration_ps': 0.0,
    'hop_fraction': DEFAULT_HOP_FRACTION,
    'hop_smoothing_ps': DEFAULT_HOP_SMOOTHING_PS,
}


@calcfunction
def compute_diffusion_descriptors(
    trajectory: orm.TrajectoryData, mobile_species: orm.Str, settings: orm.Dict | None = None
) -> dict:
    """Return the diffusion descriptors (``descriptors``) and the MSD curve (``msd``) of a trajectory.

    The paper's definition: MSD over all time origins of the mobile species after the
    equilibration (``settings.equilibration_ps``) is discarded and the framework drift removed;
    τmax is half the analysed run; D = slope / 6 of a linear fit over τmax/2 ≤ τ ≤ τmax.
    Bad input (a trajectory with NaNs, too few frames, no mobile atom, unequal time steps, no
    times or cells; an unknown setting) returns exit status 300 (``ERROR_INVALID_INPUT``) with the
    reason, rather than raising, so a calling workchain can report it.
    """
    options = {**DEFAULT_SETTINGS, **(settings.get_dict() if settings is not None else {})}
    unknown = set(options) - set(DEFAULT_SETTINGS)
    if unknown:
        return ExitCode(
            300, f'ERROR_INVALID_INPUT: unknown settings {sorted(unknown)}; allowed: {sorted(DEFAULT_SETTINGS)}'
        )
    try:
        arrays = trajectory_arrays(trajectory)
        masses = [float(atomic_masses[atomic_numbers[symbol]]) for symbol in arrays.symbols]
        result = analyse_tracer_diffusion(
            positions=arrays.positions,
            cells=arrays.cells,
            times_ps=arrays.times_ps,
            symbols=arrays.symbols,
            masses=masses,
            mobile_species=mobile_species.value,
            equilibration_ps=options['equilibration_ps'],
            hop_fraction=options['hop_fraction'],
            hop_smoothing_ps=options['hop_smoothing_ps'],
        )
    except ValueError as exception:
        return ExitCode(300, f'ERROR_INVALID_INPUT: {exception}')
    descriptors = orm.Dict(
        {
            'diffusion_coefficient_cm2_s': result.fit.diffusion_coefficient_cm2_s,
            'msd_A2': result.fit.msd_at_fit_end_A2,
            'mobile_species': mobile_species.value,
            'mobile_ions': result.mobile_ions,
            'diffusion_fit_start_ps': result.fit.fit_start_ps,
            'diffusion_fit_end_ps': result.fit.fit_end_ps,
            'diffusion_fit_intercept_A2': result.fit.intercept_A2,
            'diffusion_fit_r_squared': result.fit.r_squared,
            'mobile_ion_hops': result.hops.hops,
            'mobile_ions_that_hopped': result.hops.ions_that_hopped,
            'hop_distance_A': result.hops.hop_distance_A,
            'analysed_time_ps': result.analysed_time_ps,
            'analysed_frames': result.analysed_frames,
            'equilibration_ps': float(options['equilibration_ps']),
            'framework_drift_removed': result.mobile_ions < len(arrays.symbols),
        }
    )
    msd = orm.ArrayData()
    msd.set_array('lag_time_ps', result.lag_times_ps)
    msd.set_array('msd_A2', result.msd_A2)
    msd.set_array('msd_xyz_A2', result.msd_xyz_A2)
    msd.base.attributes.set('mobile_species', mobile_species.value)
    msd.base.attributes.set('units', {'lag_time_ps': 'ps', 'msd_A2': 'Å²', 'msd_xyz_A2': 'Å²'})
    return {'descriptors': descriptors, 'msd': msd}
