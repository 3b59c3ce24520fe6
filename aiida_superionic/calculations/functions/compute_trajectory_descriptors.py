"""Calcfunction: every diffusive–vibrational descriptor of one MD trajectory.

A thin wrapper: the numbers come from ``descriptors.transport.analyse_transport`` (tracer MSD and
the paper's D, its calibrated uncertainty, D tensor, collective D, Haven ratio, Nernst–Einstein
conductivity, hops and the diffusivity verdict) and ``descriptors.vibrations.analyse_vibrations``
(VDOS per group, ⟨ω⟩, ⟨ω30⟩, harmonic thermodynamics, θ_D, Lindemann ratio); the Lindemann ratio also when
the frames resolve no spectrum (``descriptors.lindemann.trajectory_lindemann_ratio``: positions suffice).
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, Process, calcfunction
from ase.data import atomic_masses, atomic_numbers

from ...common.trajectory import trajectory_arrays
from ...descriptors.block_averaging import DEFAULT_BLOCKS
from ...descriptors.composition import nominal_charge
from ...descriptors.diffusion import DEFAULT_HOP_FRACTION, DEFAULT_HOP_SMOOTHING_PS
from ...descriptors.lindemann import trajectory_lindemann_ratio
from ...descriptors.plausibility import (
    IMPLAUSIBLE_FRAME_INTERVAL,
    assess_frame_interval,
    finite_difference_temperature,
)
from ...descriptors.stability import energy_drift_meV_atom_ps
from ...descriptors.transport import (
    DEFAULT_LOGLOG_SLOPE_TOLERANCE,
    DEFAULT_MIN_HOPS,
    analyse_transport,
    drop_undefined,
)
from ...descriptors.vibrational_spectra import DEFAULT_MAX_CORRELATION_ps, DEFAULT_MAX_ENERGY_meV
from ...descriptors.vibrations import analyse_vibrations

#: Settings of the analysis and their defaults.
DEFAULT_SETTINGS = {
    'equilibration_ps': 0.0,
    'hop_fraction': DEFAULT_HOP_FRACTION,
    'hop_smoothing_ps': DEFAULT_HOP_SMOOTHING_PS,
    'blocks': DEFAULT_BLOCKS,
    'min_hops': DEFAULT_MIN_HOPS,
    'loglog_slope_tolerance': DEFAULT_LOGLOG_SLOPE_TOLERANCE,
    'max_energy_meV': DEFAULT_MAX_ENERGY_meV,
    'max_correlation_ps': DEFAULT_MAX_CORRELATION_ps,
    # the importer turns it on: there the frame interval is a label the user or the run states, while the
    # plugin's own MD sets it itself (and tests' toy walks move at no physical temperature)
    'frame_interval_check': False,
}

#: The setting that states the frame interval, by the trajectory's ``source_format`` (for the warning).
FRAME_INTERVAL_SETTINGS = {
    'vasp': 'POTIM × NBLOCK (--timestep-fs, --nblock)',
    'ase': 'the frame interval (--frame-interval-fs)',
}

#: Exit status of bad input: the message starts with its label.
ERROR_INVALID_INPUT = 300


@calcfunction
def compute_trajectory_descriptors(
    trajectory: orm.TrajectoryData,
    mobile_species: orm.Str,
    temperature: orm.Float,
    settings: orm.Dict | None = None,
) -> dict:
    """Return ``descriptors`` (Dict), ``msd`` (ArrayData) and, when it can be computed, ``vdos`` (ArrayData).

    The paper's definitions: the MSD over all time origins of the mobile species after
    ``settings.equilibration_ps`` is discarded and the framework drift removed; τmax is half the
    analysed run; D = slope / 6 over τmax/2 ≤ τ ≤ τmax. ``temperature`` (K) enters the harmonic
    thermodynamics and the Nernst–Einstein conductivity.

    Bad input (a trajectory with NaNs, too few frames, no mobile atom, unequal time steps, no
    times or cells; an unknown setting) returns exit status 300 (``ERROR_INVALID_INPUT``) with the
    reason, rather than raising, so a calling workchain can report it. A trajectory whose frames
    are too far apart for a VDOS keeps its diffusive descriptors; the vibrational ones are absent
    and ``vibrational_analysis_error`` says why. When the trajectory has the conserved energy of its
    thermostat (``conserved_energy_eV``), ``energy_drift_meV_atom_ps`` is its drift after the
    equilibration.
    """
    options = {**DEFAULT_SETTINGS, **(settings.get_dict() if settings is not None else {})}
    unknown = set(options) - set(DEFAULT_SETTINGS)
    if unknown:
        return ExitCode(
            ERROR_INVALID_INPUT,
            f'ERROR_INVALID_INPUT: unknown settings {sorted(unknown)}; allowed: {sorted(DEFAULT_SETTINGS)}',
        )
    species = mobile_species.value
    try:
        arrays = trajectory_arrays(trajectory)
        masses = np.array([atomic_masses[atomic_numbers[symbol]] for symbol in arrays.symbols])
        charge, charge_source = nominal_charge(arrays.symbols, species)
        common = {
            'positions': arrays.positions,
            'cells': arrays.cells,
            'times_ps': arrays.times_ps,
            'symbols': arrays.symbols,
            'masses': masses,
            'mobile_species': species,
            'temperature_K': temperature.value,
            'equilibration_ps': options['equilibration_ps'],
        }
        transport = analyse_transport(
            **common,
            nominal_charge=charge,
            hop_fraction=options['hop_fraction'],
            hop_smoothing_ps=options['hop_smoothing_ps'],
            blocks=int(options['blocks']),
            min_hops=int(options['min_hops']),
            loglog_slope_tolerance=options['loglog_slope_tolerance'],
        )
    except (ValueError, KeyError) as exception:
        return ExitCode(ERROR_INVALID_INPUT, f'ERROR_INVALID_INPUT: {exception}')

    tracer = transport.tracer
    values = {
        **{key: value for key, value in transport.descriptors().items() if key != 'conductivity_temperature_K'},
        'mobile_species': species,
        'mobile_ions': tracer.mobile_ions,
        'nominal_charge_source': charge_source,
        'diffusion_fit_start_ps': tracer.fit.fit_start_ps,
        'diffusion_fit_end_ps': tracer.fit.fit_end_ps,
        'diffusion_fit_intercept_A2': tracer.fit.intercept_A2,
        'diffusion_fit_r_squared': tracer.fit.r_squared,
        'mobile_ions_that_hopped': tracer.hops.ions_that_hopped,
        'hop_distance_A': tracer.hops.hop_distance_A,
        'analysed_time_ps': tracer.analysed_time_ps,
        'analysed_frames': tracer.analysed_frames,
        'equilibration_ps': float(options['equilibration_ps']),
        'framework_drift_removed': tracer.mobile_ions < len(arrays.symbols),
        'temperature_K': temperature.value,
        'analysis_settings': options,  # every setting used, defaults included
    }

    if options['frame_interval_check']:
        values.update(
            _frame_interval_check(
                arrays, temperature.value, trajectory, values['diffusivity_verdict'], values['diffusivity_reason']
            )
        )

    if 'conserved_energy_eV' in trajectory.get_arraynames():
        conserved = trajectory.get_array('conserved_energy_eV')
        start = int(np.searchsorted(arrays.times_ps - arrays.times_ps[0], options['equilibration_ps'] - 1e-9))
        try:
            values['energy_drift_meV_atom_ps'] = energy_drift_meV_atom_ps(
                arrays.times_ps[start:], conserved[start:], len(arrays.symbols)
            )
        except ValueError as exception:
            values['energy_drift_error'] = str(exception)

    outputs = {}
    try:
        vibrations = analyse_vibrations(
            **common,
            velocities=arrays.velocities,
            max_energy_meV=options['max_energy_meV'],
            max_correlation_ps=options['max_correlation_ps'],
        )
    except ValueError as exception:
        values['vibrational_analysis_error'] = str(exception)
        # the Lindemann ratio needs positions only, not frames that resolve a spectrum: the MD's melting
        # guard (exit 416) and the table have it whatever the frame interval
        values['lindemann_ratio'] = trajectory_lindemann_ratio(
            arrays.positions,
            arrays.cells,
            arrays.times_ps,
            arrays.symbols,
            masses,
            species,
            equilibration_ps=options['equilibration_ps'],
        ).lindemann_ratio
    else:
        values.update(drop_undefined(vibrations.descriptors()))
        values['velocity_source'] = vibrations.velocity_source
        values['kinetic_temperature_K'] = vibrations.kinetic_temperature_K  # a trust column of the row
        values['debye_temperature_mass_weighted_K'] = vibrations.debye_temperature_mass_weighted_K
        vdos = orm.ArrayData()
        vdos.set_array('energy_meV', vibrations.energies_meV)
        for group, spectrum in vibrations.spectra.items():
            vdos.set_array(f'g_{group}', spectrum)
            vdos.set_array(f'g_mass_weighted_{group}', vibrations.mass_weighted_spectra[group])
        normalisation = f'modes / meV / atom; 3 modes per atom over 0 < E <= {options["max_energy_meV"]} meV'
        vdos.base.attributes.set('units', {'energy_meV': 'meV', 'g_*': normalisation})
        vdos.base.attributes.set('velocity_source', vibrations.velocity_source)
        outputs['vdos'] = vdos

    msd = orm.ArrayData()
    msd.set_array('lag_time_ps', tracer.lag_times_ps)
    msd.set_array('msd_A2', tracer.msd_A2)
    msd.set_array('msd_xyz_A2', tracer.msd_xyz_A2)
    msd.set_array('msd_tensor_A2', transport.msd_tensor_A2)
    msd.set_array('collective_msd_xyz_A2', transport.collective_msd_xyz_A2)
    msd.base.attributes.set('mobile_species', species)
    msd.base.attributes.set('units', {'lag_time_ps': 'ps', '*_A2': 'Å²'})
    outputs['msd'] = msd
    outputs['descriptors'] = orm.Dict(drop_undefined(values))
    return outputs


def _frame_interval_check(
    arrays, temperature_K: float, trajectory: orm.TrajectoryData, transport_verdict: str, transport_reason: str
) -> dict:
    """The plausibility of the frame interval and temperature, and the verdict that flags D when they contradict."""
    frame_interval_fs = float(arrays.times_ps[1] - arrays.times_ps[0]) * 1000.0
    estimate = finite_difference_temperature(arrays.positions, list(arrays.symbols), frame_interval_fs, arrays.cells)
    plausibility = assess_frame_interval(estimate, temperature_K)
    values = {
        'kinetic_temperature_fd_K': estimate.temperature_K,
        'kinetic_temperature_fd_species_K': estimate.species_temperatures_K,
        'frame_interval_ballistic_fraction': estimate.ballistic_fraction,
        'frame_interval_implied_fs': plausibility.implied_frame_interval_fs,
        'frame_interval_plausible': plausibility.plausible,
    }
    if not plausibility.plausible:
        setting = FRAME_INTERVAL_SETTINGS.get(
            trajectory.base.attributes.get('source_format', None), 'the frame interval'
        )
        values['frame_interval_warning'] = plausibility.message(setting)
        Process.current().report(values['frame_interval_warning'])  # in `verdi process report` too
        values['diffusivity_verdict'] = IMPLAUSIBLE_FRAME_INTERVAL
        values['diffusivity_reason'] = (
            f'{values["frame_interval_warning"]}; with the stated interval the MSD alone gives '
            f'{transport_verdict!r}: {transport_reason}'
        )
    return values
