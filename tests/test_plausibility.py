"""Do the stated frame interval and temperature agree with the motion? And a thermostat that distorts D is named.

The finite-difference kinetic temperature on toys whose answer is known (ballistic Maxwell–Boltzmann atoms,
Brownian atoms with inertia, coarse-framed harmonic oscillators), then at import: a toy relabelled ×10, the real
LGPS run (labelled 20 fs, moving like 2 fs) and the real argyrodite XDATCAR at 100 fs per frame (coarse, no alarm).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from aiida import orm
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.io import write
from click.testing import CliRunner

from aiida_superionic.cli import cmd_root
from aiida_superionic.descriptors.constants import AMU_A2_PER_PS2_TO_eV, BOLTZMANN_eV_K
from aiida_superionic.descriptors.plausibility import (
    BALLISTIC_FRACTION_MIN,
    DEFAULT_PLAUSIBILITY_FACTOR,
    IMPLAUSIBLE_FRAME_INTERVAL,
    assess_frame_interval,
    finite_difference_temperature,
)
from aiida_superionic.readers.run import thermostat_warnings
from aiida_superionic.workflows.importer import import_md_run

TEMPERATURE_K = 600.0


def thermal_speed_A_per_fs(symbol: str, temperature_K: float) -> float:
    """√(k_B T / m) per Cartesian component, in Å/fs."""
    mass = atomic_masses[atomic_numbers[symbol]]
    return math.sqrt(BOLTZMANN_eV_K * temperature_K / (mass * AMU_A2_PER_PS2_TO_eV)) / 1000.0


def ballistic_atoms(symbols, frames: int, frame_interval_fs: float, seed: int = 0) -> np.ndarray:
    """Free atoms with Maxwell–Boltzmann velocities at ``TEMPERATURE_K``, moving in straight lines."""
    rng = np.random.default_rng(seed)
    sigma = np.array([thermal_speed_A_per_fs(symbol, TEMPERATURE_K) for symbol in symbols])
    velocities = rng.normal(size=(len(symbols), 3)) * sigma[:, None]
    times = np.arange(frames)[:, None, None] * frame_interval_fs
    return rng.uniform(0, 10, (len(symbols), 3))[None] + velocities[None] * times


def brownian_atoms(symbols, frames: int, frame_interval_fs: float, relaxation_fs: float = 200.0, seed: int = 1):
    """Atoms whose velocities are an Ornstein–Uhlenbeck process at ``TEMPERATURE_K`` (Brownian motion with inertia),
    integrated in 8 sub-steps per frame: ballistic below ``relaxation_fs``, diffusive beyond."""
    rng = np.random.default_rng(seed)
    sigma = np.array([thermal_speed_A_per_fs(symbol, TEMPERATURE_K) for symbol in symbols])[:, None]
    substep = frame_interval_fs / 8
    decay = math.exp(-substep / relaxation_fs)
    velocity = rng.normal(size=(len(symbols), 3)) * sigma
    position = rng.uniform(0, 12, (len(symbols), 3))
    positions = np.empty((frames, len(symbols), 3))
    for frame in range(frames):
        positions[frame] = position
        for _ in range(8):
            new_velocity = velocity * decay + math.sqrt(1 - decay**2) * sigma * rng.normal(size=velocity.shape)
            position = position + 0.5 * (velocity + new_velocity) * substep
            velocity = new_velocity
    return positions


SYMBOLS = ['Li'] * 300 + ['S'] * 200


def test_ballistic_maxwell_boltzmann_atoms_give_their_temperature_back():
    estimate = finite_difference_temperature(ballistic_atoms(SYMBOLS, 20, 1.0), SYMBOLS, 1.0)
    # one velocity draw of 3N components: the relative sampling error of T is √(2 / 3N)
    tolerance = 4 * math.sqrt(2 / (3 * len(SYMBOLS)))
    assert estimate.temperature_K == pytest.approx(TEMPERATURE_K, rel=tolerance)
    for symbol, count in (('Li', 300), ('S', 200)):
        assert estimate.species_temperatures_K[symbol] == pytest.approx(TEMPERATURE_K, rel=4 * math.sqrt(2 / count / 3))
    assert estimate.ballistic_fraction == pytest.approx(1.0, abs=1e-9)
    # the estimate scales as 1/Δt²: the same motion labelled 10x slower is 100x colder
    relabelled = finite_difference_temperature(ballistic_atoms(SYMBOLS, 20, 1.0), SYMBOLS, 10.0)
    assert relabelled.temperature_K == pytest.approx(estimate.temperature_K / 100, rel=1e-12)


def test_fine_brownian_frames_are_plausible_and_relabelled_ones_are_not():
    positions = brownian_atoms(SYMBOLS, 60, 2.0)
    right = assess_frame_interval(finite_difference_temperature(positions, SYMBOLS, 2.0), TEMPERATURE_K)
    assert right.plausible
    assert right.direction == ''
    assert right.ballistic_fraction > BALLISTIC_FRACTION_MIN
    assert 0.8 < right.temperature_ratio <= 1.1  # ≤ 1 but for sampling noise: finite differences never exceed T

    too_long = assess_frame_interval(finite_difference_temperature(positions, SYMBOLS, 20.0), TEMPERATURE_K)
    assert not too_long.plausible
    assert too_long.direction == 'closer'
    assert too_long.implied_frame_interval_fs == pytest.approx(right.implied_frame_interval_fs, rel=1e-9)
    assert too_long.implied_frame_interval_fs == pytest.approx(2.0, rel=0.1)
    assert re.search(r'POTIM × NBLOCK looks like (1\.9|2|2\.1) fs, not 20 fs', too_long.message('POTIM × NBLOCK'))

    too_short = assess_frame_interval(finite_difference_temperature(positions, SYMBOLS, 0.2), TEMPERATURE_K)
    assert not too_short.plausible
    assert too_short.direction == 'further_apart'
    assert re.search(r'looks like at least (1\.9|2|2\.1) fs, not 0\.2 fs', too_short.message('the frame interval'))


def test_coarse_frames_underestimate_the_temperature_without_an_alarm():
    """Harmonic oscillators sampled at 0.7 of their period: T_fd / T = sinc²(0.7π) ≈ 0.14, a real effect."""
    rng = np.random.default_rng(3)
    symbols = ['Li'] * 400
    sigma_v = thermal_speed_A_per_fs('Li', TEMPERATURE_K)
    period_fs = 100.0
    omega = 2 * math.pi / period_fs
    x0 = rng.normal(size=(400, 3)) * sigma_v / omega
    v0 = rng.normal(size=(400, 3)) * sigma_v
    times = (np.arange(40) * 0.7 * period_fs)[:, None, None]
    positions = x0 * np.cos(omega * times) + v0 / omega * np.sin(omega * times)
    estimate = finite_difference_temperature(positions, symbols, 0.7 * period_fs)
    expected = (math.sin(0.7 * math.pi) / (0.7 * math.pi)) ** 2
    assert estimate.temperature_K / TEMPERATURE_K == pytest.approx(expected, rel=0.15)
    assert estimate.temperature_K / TEMPERATURE_K < 1 / DEFAULT_PLAUSIBILITY_FACTOR  # far below...
    assert estimate.ballistic_fraction < BALLISTIC_FRACTION_MIN  # ...but the frames say they are coarse
    assert assess_frame_interval(estimate, TEMPERATURE_K).plausible


@pytest.mark.parametrize(
    ('arguments', 'message'),
    [
        ((np.zeros((1, 2, 3)), ['Li', 'Li'], 1.0), 'frames >= 2'),
        ((np.zeros((3, 2, 3)), ['Li'], 1.0), '1 symbols for 2 atoms'),
        ((np.zeros((3, 2, 3)), ['Li', 'Li'], 0.0), 'finite time > 0 fs'),
    ],
)
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        finite_difference_temperature(*arguments)


def test_thermostats_that_distort_the_dynamics_are_named():
    assert thermostat_warnings({'mdalgo': 2}) == []
    assert thermostat_warnings({'andersen_prob': 0.0}) == []
    (langevin,) = thermostat_warnings({'mdalgo': 3, 'langevin_gamma': '10 10 10'})
    assert langevin.startswith('MDALGO = 3 is a Langevin thermostat (LANGEVIN_GAMMA = 10 10 10 ps⁻¹)')
    (andersen,) = thermostat_warnings({'mdalgo': 1, 'andersen_prob': 0.1})
    assert andersen.startswith('ANDERSEN_PROB = 0.1 is an Andersen thermostat')


# at import ---------------------------------------------------------------------------------------------------


def write_extxyz(path, positions, symbols, cell):
    write(path, [Atoms(symbols, positions=frame, cell=cell, pbc=True) for frame in positions], format='extxyz')
    return path


def test_a_brownian_run_relabelled_ten_times_slower_is_flagged(aiida_profile_clean, tmp_path):
    symbols = ['Li'] * 24 + ['S'] * 16
    path = write_extxyz(tmp_path / 'brownian.extxyz', brownian_atoms(symbols, 300, 2.0), symbols, np.eye(3) * 12)
    right = import_md_run(path, frame_interval_fs=2.0, temperature_K=TEMPERATURE_K)
    assert right.descriptors['frame_interval_plausible'] is True
    assert right.descriptors['diffusivity_verdict'] != IMPLAUSIBLE_FRAME_INTERVAL
    assert not any('does not fit' in warning for warning in right.warnings)

    wrong = import_md_run(path, frame_interval_fs=20.0, temperature_K=TEMPERATURE_K)
    descriptors = wrong.descriptors.get_dict()
    assert descriptors['frame_interval_plausible'] is False
    assert descriptors['diffusivity_verdict'] == IMPLAUSIBLE_FRAME_INTERVAL
    assert descriptors['frame_interval_implied_fs'] == pytest.approx(2.0, rel=0.15)
    (warning,) = [warning for warning in wrong.warnings if 'does not fit' in warning]
    assert re.search(r'the frame interval \(--frame-interval-fs\) looks like (1\.9|2|2\.1) fs, not 20 fs', warning)
    reports = [log.message for log in orm.Log.collection.get_logs_for(wrong.descriptors_calculation)]
    assert any(report.endswith(warning) for report in reports)  # `verdi process report` has it


@pytest.mark.realdata
def test_the_real_lgps_run_labelled_20_fs_is_flagged_as_2_fs(aiida_profile_clean, lgps, tmp_path):
    _, positions, lattice, _, symbols = lgps
    path = write_extxyz(tmp_path / 'lgps.extxyz', positions, symbols, lattice)
    output = CliRunner().invoke(
        cmd_root, ['import', str(path), '--frame-interval-fs', '20', '--temperature', '600'], catch_exceptions=False
    )
    assert output.exit_code == 0, output.output
    (warning,) = [line for line in output.output.splitlines() if line.startswith('Warning: the motion')]
    assert warning.startswith('Warning: the motion does not fit 20 fs per frame at 600 K')
    assert 'looks like 2 fs, not 20 fs' in warning
    assert f'diffusivity_verdict                         {IMPLAUSIBLE_FRAME_INTERVAL}' in output.output

    result = import_md_run(path, frame_interval_fs=2.0, temperature_K=600.0)
    descriptors = result.descriptors.get_dict()
    assert descriptors['frame_interval_plausible'] is True
    assert descriptors['kinetic_temperature_fd_K'] == pytest.approx(600.0, rel=0.1)  # 587 K
    assert descriptors['frame_interval_ballistic_fraction'] > 0.95  # 0.997: frames 2 fs apart are ballistic
    assert descriptors['diffusivity_verdict'] != IMPLAUSIBLE_FRAME_INTERVAL


@pytest.mark.realdata
def test_a_real_run_rightly_labelled_20_fs_is_plausible(realdata):
    """pymatgen's cubic Na3PS4 at 800 K, 20 fs per frame: still near-ballistic (b ≈ 0.84), T_fd ≈ 740 K. So 20 fs
    frames of a sulfide do give about T, and the LGPS run's 6 K at its 20 fs label is no physics of coarse frames."""
    import json

    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer

    path = realdata / 'pmgdiff_cNa3PS4' / 'cNa3PS4_pda.json'
    if not path.is_file():
        pytest.skip(f'{path} not found')
    analyzer = DiffusionAnalyzer.from_dict(json.loads(path.read_text()))
    positions = analyzer.structure.cart_coords[None] + analyzer.disp.transpose(1, 0, 2)
    symbols = [site.specie.symbol for site in analyzer.structure]
    frame_interval_fs = analyzer.time_step * analyzer.step_skip
    assert frame_interval_fs == 20.0
    estimate = finite_difference_temperature(positions, symbols, frame_interval_fs)
    plausibility = assess_frame_interval(estimate, analyzer.temperature)
    assert plausibility.plausible
    assert 0.8 < plausibility.temperature_ratio < 1.0  # 0.93: a little below T, as finite differences must be
    assert estimate.ballistic_fraction > BALLISTIC_FRACTION_MIN


@pytest.mark.realdata
def test_the_real_argyrodite_at_100_fs_per_frame_is_no_false_alarm(aiida_profile_clean, realdata, tmp_path):
    """kinisi's Li6PS5Cl at 500 K, 2 fs x 50: coarse frames give T_fd ≈ 170 K, a third of 500 K, physically."""
    from test_importer import incar_text

    source = realdata / 'kinisi_XDATCAR' / 'example_XDATCAR.gz'
    if not source.is_file():
        pytest.skip(f'{source} not found')
    folder = tmp_path / 'argyrodite'
    folder.mkdir()
    (folder / 'XDATCAR.gz').write_bytes(source.read_bytes())
    (folder / 'INCAR').write_text(incar_text(potim=2.0, nblock=50, tebeg=500.0))
    descriptors = import_md_run(folder).descriptors.get_dict()
    assert descriptors['frame_interval_plausible'] is True
    assert descriptors['kinetic_temperature_fd_K'] < 500.0 / 2  # far below 500 K...
    assert descriptors['frame_interval_ballistic_fraction'] < BALLISTIC_FRACTION_MIN  # ...from coarse frames
    assert descriptors['diffusivity_verdict'] == 'diffusive'


def test_a_langevin_vasp_run_is_imported_with_a_warning(aiida_profile_clean, tmp_path):
    from test_importer import incar_text, vasp_run

    vasp_run(tmp_path / 'run', incar=incar_text(MDALGO=3, LANGEVIN_GAMMA='10 10 10'))
    result = import_md_run(tmp_path / 'run')
    assert result.parameters['mdalgo'] == 3
    (warning,) = [warning for warning in result.warnings if 'Langevin' in warning]
    assert warning.startswith('MDALGO = 3 is a Langevin thermostat (LANGEVIN_GAMMA = 10 10 10 ps⁻¹)')


def test_wrapped_positions_with_their_cells_give_what_unwrapped_ones_give():
    positions = brownian_atoms(SYMBOLS, 700, 2.0)  # more frames than one chunk: the steps across chunks count
    cell = np.diag([12.0, 13.0, 14.0])
    wrapped = (positions @ np.linalg.inv(cell) % 1.0) @ cell
    unwrapped = finite_difference_temperature(positions, SYMBOLS, 2.0)
    from_wrapped = finite_difference_temperature(wrapped, SYMBOLS, 2.0, cells=cell)
    assert from_wrapped.temperature_K == pytest.approx(unwrapped.temperature_K, rel=1e-9)
    assert from_wrapped.ballistic_fraction == pytest.approx(unwrapped.ballistic_fraction, rel=1e-9)
    # the two-frame steps by brute force
    two = ((positions[2:] - positions[:-2]) ** 2).sum(-1).mean(0)
    one = ((positions[1:] - positions[:-1]) ** 2).sum(-1).mean(0)
    masses = np.array([atomic_masses[atomic_numbers[symbol]] for symbol in SYMBOLS])
    assert unwrapped.ballistic_fraction == pytest.approx((masses * two).sum() / (4 * (masses * one).sum()), rel=1e-9)


def test_a_flagged_import_is_a_flagged_row():
    """The verdict is how a flag reaches a row: the trust columns copy it, and the statistics leave D out."""
    import pandas as pd

    from aiida_superionic.analysis.selection import mask_flagged_diffusion
    from aiida_superionic.common.trust import VERDICT_MEANINGS, trust_values

    assert IMPLAUSIBLE_FRAME_INTERVAL in VERDICT_MEANINGS
    trust = trust_values({'diffusivity_verdict': IMPLAUSIBLE_FRAME_INTERVAL, 'diffusivity_reason': 'labels'}, None)
    row = {**trust, 'formula': 'Li10GeP2S12', 'temperature_K': 600.0, 'stoichiometric': True}
    table = pd.DataFrame([{**row, 'diffusion_coefficient_cm2_s': 1e-6}], index=['row'])
    masked, summary = mask_flagged_diffusion(table)
    assert summary['rows_flagged'] == 1
    assert masked['diffusion_coefficient_cm2_s'].isna().all()
