"""Tests of the vibrational descriptors (VDOS, mean frequencies, harmonic thermodynamics, Lindemann ratio).

No AiiDA. Every expectation comes from an independent computation or a known answer:

* a harmonic rock-salt crystal (light "Li" mobile ion, heavy "I" framework, nearest- and
  next-nearest-neighbour springs) whose force constants the tests build themselves; the MD
  trajectory is the exact superposition of its normal modes (numpy eigendecomposition, random
  phases, each mode with exactly k_B T of time-averaged kinetic energy), so there is no integrator
  error; phonopy, given the same force constants, provides the phonon DOS, projected DOS and
  thermal properties;
* phonopy's ``ThermalProperties`` fed the same mode frequencies (to 1e-6);
* closed forms: Einstein and Debye solids (the Debye function by quadrature), classical limits,
  sinusoidal velocities, Gaussian displacements on a lattice, pymatgen's distance matrix.
"""

from __future__ import annotations

import numpy as np
import phonopy
import pytest
import scipy.integrate
from phonopy.physical_units import get_physical_units
from phonopy.structure.atoms import PhonopyAtoms

from aiida_superionic.descriptors import vibrational_spectra, vibrations
from aiida_superionic.descriptors.constants import (
    AMU_A2_PER_PS2_TO_eV,
    BOLTZMANN_eV_K,
    HBAR_meV_ps,
    PLANCK_meV_ps,
)
from aiida_superionic.descriptors.harmonic_thermodynamics import harmonic_thermodynamics, thermodynamics_from_modes
from aiida_superionic.descriptors.lindemann import (
    _unwrapped_pass,
    framework_lindemann_ratio,
    nearest_neighbour_distances,
    trajectory_lindemann_ratio,
)
from aiida_superionic.descriptors.vibrational_spectra import (
    check_frame_interval,
    compute_vibrational_spectra,
    debye_temperature_K,
    mean_frequency_meV,
    velocities_from_positions,
)
from aiida_superionic.descriptors.vibrations import VIBRATIONAL_DESCRIPTOR_KEYS, analyse_vibrations

# -------------------------------------------------------------------------------------------------
# the harmonic rock-salt model
# -------------------------------------------------------------------------------------------------

#: Lattice constant (Å) of the conventional rock-salt cell; nearest neighbours at A/2.
LATTICE_A = 6.0
PRIMITIVE = LATTICE_A / 2 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
BASIS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
SPECIES = ('Li', 'I')
SPECIES_MASSES = np.array([6.94, 126.90447])
#: Central springs in eV/Å²: Li-I nearest neighbours, I-I and Li-Li next-nearest neighbours.
SPRINGS = {('Li', 'I', 1): 1.0, ('I', 'Li', 1): 1.0, ('I', 'I', 2): 0.3, ('Li', 'Li', 2): 0.05}
REPEAT = 3  # supercell of 3 x 3 x 3 primitive cells: 54 atoms, 162 modes
TEMPERATURE_K = 300.0


def make_phonopy(repeat: int):
    """A phonopy object of the rock-salt model with a ``repeat``³ supercell (force constants not set)."""
    unitcell = PhonopyAtoms(symbols=list(SPECIES), cell=PRIMITIVE, scaled_positions=BASIS, masses=SPECIES_MASSES)
    return phonopy.Phonopy(unitcell, supercell_matrix=np.eye(3, dtype=int) * repeat)


def spring_force_constants(positions: np.ndarray, cell: np.ndarray, symbols: list[str]) -> np.ndarray:
    """Force constants (eV/Å², shape (n, n, 3, 3)) of central springs between shells 1 and 2.

    Φ_ij = -k ê⊗ê for every spring i-j (summed over periodic images), Φ_ii = -Σ_j Φ_ij, so the
    acoustic sum rule holds exactly.
    """
    count = len(positions)
    shells = {1: LATTICE_A / 2, 2: LATTICE_A / np.sqrt(2)}
    images = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing='ij')).reshape(3, -1).T @ cell
    constants = np.zeros((count, count, 3, 3))
    inverse = np.linalg.inv(cell)
    for i in range(count):
        fractional = (positions - positions[i]) @ inverse
        separations = (fractional - np.rint(fractional)) @ cell
        for j in range(count):
            for image in images:
                vector = separations[j] + image
                distance = np.linalg.norm(vector)
                for shell, shell_distance in shells.items():
                    spring = SPRINGS.get((symbols[i], symbols[j], shell))
                    if spring is not None and abs(distance - shell_distance) < 1e-6:
                        block = spring * np.outer(vector, vector) / distance**2
                        constants[i, j] -= block
                        constants[i, i] += block
    return constants


class HarmonicModel:
    """The rock-salt model: supercell, force constants, phonopy and an exact MD trajectory."""

    frame_interval_ps = 0.005
    frames = 4000  # 20 ps

    def __init__(self):
        self.phonon = make_phonopy(REPEAT)
        supercell = self.phonon.supercell
        self.positions = supercell.positions
        self.cell = np.array(supercell.cell)
        self.symbols = list(supercell.symbols)
        self.masses = np.array(supercell.masses)
        self.force_constants = spring_force_constants(self.positions, self.cell, self.symbols)
        self.phonon.force_constants = self.force_constants

        # Normal modes of the supercell, independently of phonopy.
        atoms = len(self.positions)
        mass_columns = np.repeat(self.masses, 3)
        dynamical = self.force_constants.transpose(0, 2, 1, 3).reshape(3 * atoms, 3 * atoms)
        dynamical /= np.sqrt(np.outer(mass_columns, mass_columns))
        eigenvalues, self.eigenvectors = np.linalg.eigh(dynamical)
        # eV/(Å² amu) -> (rad/ps)²
        self.omega = np.sqrt(np.clip(eigenvalues, 0.0, None) / AMU_A2_PER_PS2_TO_eV)
        self.vibrating = self.omega > 1e-3  # all but the three translations

        # Exact harmonic motion: Q_s(t) = A_s cos(ω_s t + φ_s) with ½ <Q̇_s²> = ½ k_B T.
        thermal = BOLTZMANN_eV_K * TEMPERATURE_K / AMU_A2_PER_PS2_TO_eV  # amu Å²/ps²
        amplitudes = np.zeros_like(self.omega)
        amplitudes[self.vibrating] = np.sqrt(2.0 * thermal) / self.omega[self.vibrating]
        phases = np.random.default_rng(20230209).uniform(0.0, 2.0 * np.pi, len(self.omega))
        self.times_ps = np.arange(self.frames) * self.frame_interval_ps
        angle = np.outer(self.times_ps, self.omega) + phases
        cartesian = self.eigenvectors / np.sqrt(mass_columns)[:, None]
        self.amplitudes = amplitudes
        displacements = ((np.cos(angle) * amplitudes) @ cartesian.T).reshape(self.frames, atoms, 3)
        self.velocities = ((-np.sin(angle) * amplitudes * self.omega) @ cartesian.T).reshape(self.frames, atoms, 3)
        unwrapped = self.positions + displacements
        fractional = unwrapped @ np.linalg.inv(self.cell)
        self.wrapped = (fractional % 1.0) @ self.cell  # the analysis must unwrap them
        self.mobile = np.array([symbol == 'Li' for symbol in self.symbols])

    @property
    def modes(self) -> int:
        return 3 * len(self.positions)


@pytest.fixture(scope='module')
def model() -> HarmonicModel:
    return HarmonicModel()


@pytest.fixture(scope='module')
def analyses(model) -> dict[str, vibrations.VibrationalAnalysis]:
    """The analysis of the exact trajectory with integrator velocities and with finite differences."""
    common = {
        'cells': model.cell,
        'times_ps': model.times_ps,
        'symbols': model.symbols,
        'masses': model.masses,
        'mobile_species': 'Li',
        'temperature_K': TEMPERATURE_K,
    }
    return {
        'integrator': analyse_vibrations(model.wrapped, velocities=model.velocities, **common),
        'finite differences': analyse_vibrations(model.wrapped, **common),
    }


def phonopy_per_atom(model: HarmonicModel, temperatures) -> dict[str, np.ndarray]:
    """phonopy's thermal properties on the supercell-commensurate mesh, per atom of an MD supercell.

    The MD supercell has exactly the modes of the 3x3x3 Γ-centred mesh, minus the three
    translations at Γ (zero momentum), so phonopy runs with ``exclude_gamma_acoustic`` and the
    result is rescaled from 3N modes to the 3N - 3 that the MD spectrum, normalised to 3 modes per
    atom, redistributes over 3N.
    """
    units = get_physical_units()
    phonon = model.phonon
    phonon.run_mesh([REPEAT] * 3, is_gamma_center=True)
    phonon.run_thermal_properties(temperatures=temperatures, exclude_gamma_acoustic=True)
    properties = phonon.thermal_properties
    per_atom = model.modes / (model.modes - 3) / len(SPECIES)
    free_energy = properties.free_energy / units.EvTokJmol * per_atom
    entropy = properties.entropy / (units.EvTokJmol * 1000) / units.KB * per_atom
    return {
        'free_energy_eV': free_energy,
        'entropy_kB': entropy,
        'heat_capacity_kB': properties.heat_capacity / (units.EvTokJmol * 1000) / units.KB * per_atom,
        'vibrational_energy_eV': free_energy + np.asarray(temperatures) * units.KB * entropy,
    }


def moments(energies: np.ndarray, dos: np.ndarray, above_meV: float, below_meV: float = np.inf) -> tuple[float, float]:
    """First and second moments (meV, meV²) of a sampled DOS over ``above_meV`` < energies ≤ ``below_meV``."""
    kept = (energies > above_meV) & (energies <= below_meV)
    weight = dos[kept].sum()
    return (energies[kept] * dos[kept]).sum() / weight, (energies[kept] ** 2 * dos[kept]).sum() / weight


#: Gaussian smearing (THz) of phonopy's DOS: 0.05 THz = 0.2 meV, below our Hann resolution.
PHONOPY_SIGMA_THZ = 0.05

#: Energies (meV) below which moments are compared: the lowest vibration of the model is at 5.7 meV;
#: phonopy's DOS has the three Γ translations at 0 that a zero-momentum MD run lacks.
ACOUSTIC_GAP_meV = 3.0


# -------------------------------------------------------------------------------------------------
# velocities and sampling
# -------------------------------------------------------------------------------------------------


def test_finite_difference_velocities_are_second_order():
    """Central differences of A sin(ωt) match Aω cos(ωt) with an O(Δt²) error, ends included."""
    omega, amplitude = 2.0 * np.pi * 5.0, 0.3  # 5 THz, Å
    errors = []
    for dt in (0.004, 0.002):
        times = np.arange(0.0, 2.0, dt)
        positions = (amplitude * np.sin(omega * times))[:, None, None] * np.ones((1, 2, 3))
        exact = (amplitude * omega * np.cos(omega * times))[:, None, None]
        error = np.abs(velocities_from_positions(positions, dt) - exact)
        # Interior: the central difference is exactly Aω cos(ωt) sin(ωΔt)/(ωΔt).
        factor = np.sin(omega * dt) / (omega * dt)
        np.testing.assert_allclose(error[1:-1].max(), amplitude * omega * (1 - factor), rtol=1e-3)
        # Ends: second-order one-sided differences, error <= Δt² |x'''| / 3.
        assert error[[0, -1]].max() <= amplitude * omega**3 * dt**2 / 3
        errors.append(error.max())
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.05)


def test_nyquist_refusal_for_frames_100_fs_apart():
    """Frames 100 fs apart (Nyquist 5 THz = 20.7 meV) cannot give a spectrum up to 100 meV."""
    with pytest.raises(ValueError, match='100 fs') as info:
        check_frame_interval(0.1)
    message = str(info.value)
    assert '20.68 meV' in message
    assert '5 THz' in message
    assert '200 meV' in message  # finite differences need twice the 100 meV range
    with pytest.raises(ValueError, match='100 fs'):
        check_frame_interval(0.1, velocity_source='integrator')
    # 1.5 fs AIMD steps pass; 20 fs frames pass with integrator velocities only (Nyquist 103 meV).
    assert check_frame_interval(0.0015) == pytest.approx(PLANCK_meV_ps / 0.003)
    check_frame_interval(0.02, velocity_source='integrator')
    with pytest.raises(ValueError, match='finite differences'):
        check_frame_interval(0.02)

    times = np.arange(50) * 0.1
    positions = np.random.default_rng(0).normal(size=(50, 2, 3))
    with pytest.raises(ValueError, match='Nyquist'):
        analyse_vibrations(positions, 10.0 * np.eye(3), times, ['Li', 'I'], [6.94, 126.9], 'Li', 300.0)


# -------------------------------------------------------------------------------------------------
# spectra and their moments
# -------------------------------------------------------------------------------------------------


def test_single_frequency_oscillator_has_that_mean_frequency():
    """Velocities oscillating at ħω0 = 17.3 meV give ⟨ω⟩ = ⟨ω30⟩ = 17.3 meV (both velocity routes)."""
    energy = 17.3
    omega = energy / HBAR_meV_ps
    dt, frames = 0.004, 3000
    times = np.arange(frames) * dt
    phases = np.random.default_rng(1).uniform(0, 2 * np.pi, size=(1, 4, 3))
    positions = np.sin(omega * times[:, None, None] + phases) / omega
    velocities = np.cos(omega * times[:, None, None] + phases)
    groups = {'all': np.ones(4, dtype=bool)}
    for data, corrected in ((velocities, False), (velocities_from_positions(positions, dt), True)):
        spectra = compute_vibrational_spectra(data, dt, np.ones(4), groups, finite_difference_correction=corrected)
        g = spectra.spectra['all']
        assert mean_frequency_meV(spectra.energies_meV, g) == pytest.approx(energy, rel=2e-3)
        assert mean_frequency_meV(spectra.energies_meV, g, cutoff_meV=30.0) == pytest.approx(energy, rel=2e-3)
        # The peak is where it should be and the spectrum holds 3 modes per atom.
        assert spectra.energies_meV[np.argmax(g)] == pytest.approx(energy, abs=spectra.energies_meV[1])
        area = g[1:-1].sum() * spectra.energies_meV[1]
        assert area == pytest.approx(3.0, rel=1e-3)


def gaussian(energies: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((energies - centre) / width) ** 2) / (width * np.sqrt(2 * np.pi))


def test_mean_frequency_30meV_ignores_content_above_30meV():
    energies = np.arange(0.0, 120.0, 0.01)
    low, high = gaussian(energies, 10.0, 1.0), gaussian(energies, 50.0, 2.0)
    assert mean_frequency_meV(energies, low + 2 * high) == pytest.approx((10.0 + 2 * 50.0) / 3, rel=1e-6)
    for weight in (0.0, 2.0, 50.0):
        assert mean_frequency_meV(energies, low + weight * high, cutoff_meV=30.0) == pytest.approx(10.0, rel=1e-6)
    assert np.isnan(mean_frequency_meV(energies, np.where(energies > 30.0, high, 0.0), cutoff_meV=30.0))


def test_zero_frequency_bin_is_dropped_and_entropy_stays_finite():
    """A diffusive DOS with g(0) > 0: the ω = 0 bin is ignored and S, F stay finite.

    Dropping the half-bin [0, a = ΔE/2] and renormalising the rest to 3 modes changes S by
    g(0) a [2 - ln(a / k_B T) - S/3] (∫_0^a S dE with S ≈ 1 - ln x for x ≪ 1), the bound the
    module documents; the error must match it and vanish as the grid refines.
    """
    temperature = 500.0
    thermal_meV = BOLTZMANN_eV_K * temperature * 1e3
    top = 40.0  # flat DOS on (0, 40] meV, 3 modes per atom

    def entropy_per_mode(energy):
        x = energy / thermal_meV
        return x / np.expm1(x) - np.log(-np.expm1(-x))

    exact, _ = scipy.integrate.quad(entropy_per_mode, 0.0, top, limit=200)
    exact *= 3.0 / top
    errors = []
    for step in (0.1, 0.01):
        energies = np.arange(0.0, top + step / 2, step)
        dos = np.full_like(energies, 3.0 / top)
        result = harmonic_thermodynamics(energies, dos, temperature)
        assert np.isfinite(result.entropy_kB)
        assert np.isfinite(result.free_energy_eV)
        half_bin = step / 2
        estimate = 3.0 / top * half_bin * (2.0 - np.log(half_bin / thermal_meV) - exact / 3.0)
        assert exact - result.entropy_kB == pytest.approx(estimate, rel=0.1)
        errors.append(exact - result.entropy_kB)
        spiked = dos.copy()
        spiked[0] = 1e6  # weight at ω = 0 (drift, diffusion) must not enter
        assert mean_frequency_meV(energies, spiked) == pytest.approx(mean_frequency_meV(energies, dos), rel=1e-12)
        assert harmonic_thermodynamics(energies, spiked, temperature) == result
    assert errors[1] < errors[0] / 5


def test_debye_spectrum_gives_its_debye_temperature_and_heat_capacity():
    """g ∝ ω² up to ħω_D: θ_D from the second moment is ħω_D / k_B; C_v is Debye's function."""
    theta = 250.0
    debye_energy = BOLTZMANN_eV_K * theta * 1e3  # meV
    energies = np.arange(0.0, 60.0, 0.002)
    dos = np.where(energies <= debye_energy, 9.0 * energies**2 / debye_energy**3, 0.0)
    assert debye_temperature_K(energies, dos) == pytest.approx(theta, rel=1e-4)
    for temperature in (50.0, 300.0):
        x_max = theta / temperature
        integral, _ = scipy.integrate.quad(lambda x: x**4 * np.exp(x) / np.expm1(x) ** 2, 0.0, x_max)
        debye_heat_capacity = 9.0 * integral / x_max**3
        result = harmonic_thermodynamics(energies, dos, temperature)
        assert result.heat_capacity_kB == pytest.approx(debye_heat_capacity, rel=1e-4)
        # Zero-point energy of a Debye solid: 9/8 k_B θ_D per atom.
        assert result.zero_point_energy_eV == pytest.approx(9.0 / 8.0 * BOLTZMANN_eV_K * theta, rel=1e-4)


def test_einstein_mode_and_limits():
    """One mode: Einstein's formulas; high T: C_v -> 3 k_B and E_vib -> 3 k_B T; T = 0: zero point only."""
    energy = 25.0  # meV
    temperature = 400.0
    x = energy * 1e-3 / (BOLTZMANN_eV_K * temperature)
    einstein = thermodynamics_from_modes([energy], [3.0], temperature)
    assert einstein.heat_capacity_kB == pytest.approx(3 * x**2 * np.exp(x) / (np.exp(x) - 1) ** 2, rel=1e-12)
    assert einstein.vibrational_energy_eV == pytest.approx(3 * energy * 1e-3 * (0.5 + 1 / (np.exp(x) - 1)), rel=1e-12)
    assert einstein.entropy_kB == pytest.approx(3 * (x / (np.exp(x) - 1) - np.log(1 - np.exp(-x))), rel=1e-12)
    thermal = BOLTZMANN_eV_K * temperature
    assert einstein.free_energy_eV == pytest.approx(einstein.vibrational_energy_eV - thermal * einstein.entropy_kB)

    energies = np.arange(0.0, 50.0, 0.01)
    dos = np.where(energies > 5.0, gaussian(energies, 20.0, 5.0), 0.0)
    hot = harmonic_thermodynamics(energies, dos, 2.0e5)  # x <= 0.003
    assert hot.heat_capacity_kB == pytest.approx(3.0, rel=1e-5)
    assert hot.vibrational_energy_eV == pytest.approx(3 * BOLTZMANN_eV_K * 2.0e5, rel=1e-5)
    # ω -> 0 at finite T: each mode tends to C = 1 k_B, E = k_B T.
    soft = thermodynamics_from_modes([1e-9], [1.0], 300.0)
    assert soft.heat_capacity_kB == pytest.approx(1.0, rel=1e-9)
    assert soft.vibrational_energy_eV == pytest.approx(BOLTZMANN_eV_K * 300.0, rel=1e-9)
    cold = harmonic_thermodynamics(energies, dos, 0.0)
    assert cold.heat_capacity_kB == 0.0
    assert cold.entropy_kB == 0.0
    assert cold.vibrational_energy_eV == cold.free_energy_eV == pytest.approx(3 * 0.5 * 20.0e-3, rel=2e-2)
    nearly_cold = harmonic_thermodynamics(energies, dos, 1.0)  # x from 58 to 580: no overflow, no NaN
    assert nearly_cold.heat_capacity_kB == pytest.approx(0.0, abs=1e-20)
    assert nearly_cold.free_energy_eV == pytest.approx(cold.free_energy_eV, rel=1e-12)


# -------------------------------------------------------------------------------------------------
# against phonopy
# -------------------------------------------------------------------------------------------------


def test_thermodynamics_equal_phonopy_for_the_same_modes(model):
    """Fed phonopy's mesh frequencies and weights, the thermodynamics equal phonopy's to 1e-6.

    Units: phonopy gives kJ/mol and J/K/mol per primitive cell (2 atoms here) and uses its own
    h (THzToEv) and k_B (CODATA 2006: 5.8e-7 larger than the exact SI value used here). The mode
    energies are converted with phonopy's h, and our functions are evaluated at
    T' = T k_B(phonopy) / k_B(SI), which makes x = ħω / k_B T and k_B T identical, so the
    comparison tests the formulas, not the CODATA edition.
    """
    units = get_physical_units()
    phonon = make_phonopy(REPEAT)
    phonon.force_constants = model.force_constants
    phonon.run_mesh([8, 8, 8], is_gamma_center=True)
    frequencies = np.array(phonon.mesh.frequencies)  # THz, (q-points, bands)
    weights = np.array(phonon.mesh.weights, dtype=float)
    # phonopy's exclude_gamma_acoustic: the three smallest |ν| at Γ are zero (and so dropped by ours).
    gamma = int(np.flatnonzero(np.all(np.abs(phonon.mesh.qpoints) < 1e-12, axis=1))[0])
    frequencies[gamma, np.argsort(np.abs(frequencies[gamma]))[:3]] = 0.0
    temperatures = np.array([20.0, 300.0, 1200.0])
    phonon.run_thermal_properties(temperatures=temperatures, exclude_gamma_acoustic=True)
    properties = phonon.thermal_properties
    energies_meV = frequencies * units.THzToEv * 1e3
    mode_weights = np.broadcast_to(weights[:, None], frequencies.shape) / (weights.sum() * len(SPECIES))
    for index, temperature in enumerate(temperatures):
        ours = thermodynamics_from_modes(energies_meV, mode_weights, temperature * units.KB / BOLTZMANN_eV_K)
        free_energy = properties.free_energy[index] / units.EvTokJmol / len(SPECIES)
        entropy = properties.entropy[index] / (units.EvTokJmol * 1000) / units.KB / len(SPECIES)
        heat_capacity = properties.heat_capacity[index] / (units.EvTokJmol * 1000) / units.KB / len(SPECIES)
        energy = free_energy + temperature * units.KB * entropy
        zero_point = properties.zero_point_energy / units.EvTokJmol / len(SPECIES)
        assert ours.free_energy_eV == pytest.approx(free_energy, rel=1e-6)
        assert ours.entropy_kB == pytest.approx(entropy, rel=1e-6)
        assert ours.heat_capacity_kB == pytest.approx(heat_capacity, rel=1e-6)
        assert ours.vibrational_energy_eV == pytest.approx(energy, rel=1e-6)
        assert ours.zero_point_energy_eV == pytest.approx(zero_point, rel=1e-6)


@pytest.mark.parametrize('source', ['integrator', 'finite differences'])
def test_md_spectrum_reproduces_phonopy(model, analyses, source):
    """The mass-weighted VACF spectrum of the exact harmonic trajectory is phonopy's DOS.

    Tolerances. The spectrum is the mode set convolved with the Hann kernel of τmax = 5 ps, whose
    energy variance is σ² = (ħπ/τmax)²/2, σ = 0.29 meV: a symmetric kernel leaves the first moment
    unchanged and adds σ² = 0.09 meV² (1.5e-4 relative) to the second; a thermodynamic function f
    shifts by ~σ² f''/2, at most ~1e-3 for the entropy of the lowest (5.7 meV) modes and ~1e-5 for
    E and C_v. The 20 ps run adds a noise of order 1/(ω t_run) ~ 1e-3 per mode, averaging over 159
    modes. Tolerances are set a few times above these estimates; a mass-weighting, unit or
    normalisation error shows at the percent level or more.
    """
    analysis = analyses[source]
    assert analysis.velocity_source == source

    # Moments against phonopy's (Gaussian-smeared) total DOS of the commensurate mesh.
    phonon = model.phonon
    units = get_physical_units()
    phonon.run_mesh([REPEAT] * 3, is_gamma_center=True, with_eigenvectors=True, is_mesh_symmetry=False)
    phonon.run_total_dos(sigma=PHONOPY_SIGMA_THZ, freq_min=-1.0, freq_max=12.0, freq_pitch=0.002)
    phonopy_energies = phonon.total_dos.frequency_points * units.THzToEv * 1e3
    first, second = moments(phonopy_energies, phonon.total_dos.dos, ACOUSTIC_GAP_meV)
    energies, mass_weighted = analysis.energies_meV, analysis.mass_weighted_spectra['all']
    our_first, our_second = moments(energies, mass_weighted, ACOUSTIC_GAP_meV, analysis.max_energy_meV)
    assert our_first == pytest.approx(first, rel=5e-4)
    assert our_second == pytest.approx(second, rel=1e-3)
    # The mass-weighted θ_D is phonopy's second moment.
    assert analysis.debye_temperature_mass_weighted_K == pytest.approx(
        np.sqrt(5 / 3 * second) * 1e-3 / BOLTZMANN_eV_K, rel=1e-3
    )
    # Nothing below the acoustic gap, nothing above the highest mode (38.0 meV) but the kernel tail.
    assert np.abs(mass_weighted[(energies > 0) & (energies < 3.0)]).max() < 1e-3 * mass_weighted.max()
    assert analysis.spectral_weight_above_max_energy < 1e-4

    # Per-species groups: the Li and I spectra are phonopy's projected DOS (first moments).
    phonon.run_projected_dos(sigma=PHONOPY_SIGMA_THZ, freq_min=-1.0, freq_max=12.0, freq_pitch=0.002)
    projected = phonon.projected_dos.projected_dos  # (atoms of the primitive cell, points)
    for group, atom in (('mobile', 0), ('framework', 1)):
        expected = moments(phonopy_energies, projected[atom], ACOUSTIC_GAP_meV)[0]
        assert getattr(analysis, f'mean_frequency_meV_{group}') == pytest.approx(expected, rel=2e-3)

    # The all-atom g(ω) of eq. 5 (not mass-weighted) weights mode s by Σ_i |e_si|² / m_i, so with
    # a light Li it sits far above the phonon DOS mean: computed here from the eigenvectors.
    eigen_weights = (model.eigenvectors**2 / np.repeat(model.masses, 3)[:, None]).sum(axis=0)[model.vibrating]
    eq5_mean = np.dot(eigen_weights, model.omega[model.vibrating]) / eigen_weights.sum() * HBAR_meV_ps
    assert analysis.mean_frequency_meV_all == pytest.approx(eq5_mean, rel=1e-3)
    assert analysis.mean_frequency_meV_all > 1.3 * our_first

    # Thermodynamics against phonopy's thermal properties at 300 K.
    reference = phonopy_per_atom(model, [TEMPERATURE_K])
    assert analysis.vibrational_energy_eV_all == pytest.approx(reference['vibrational_energy_eV'][0], rel=3e-4)
    assert analysis.heat_capacity_kB_all == pytest.approx(reference['heat_capacity_kB'][0], rel=3e-4)
    assert analysis.entropy_kB_all == pytest.approx(reference['entropy_kB'][0], rel=1e-3)
    assert analysis.free_energy_eV_all == pytest.approx(reference['free_energy_eV'][0], abs=1e-4)

    # Equipartition read back from the velocities (finite differences read a little low).
    assert analysis.kinetic_temperature_K == pytest.approx(TEMPERATURE_K, rel=1e-3 if source == 'integrator' else 3e-2)


def test_lindemann_ratio_of_the_harmonic_crystal(model, analyses):
    """⟨u²⟩ of the I framework from the exact mode amplitudes: Σ_s A_s²/2 Σ_(i in I) |e_si|²/m_i / N_I."""
    framework = ~model.mobile
    per_coordinate = np.repeat(framework, 3)
    weights = (model.eigenvectors[per_coordinate] ** 2 / np.repeat(model.masses[framework], 3)[:, None]).sum(axis=0)
    mean_square = np.dot(model.amplitudes**2 / 2, weights) / framework.sum()
    # d_nn from the framework alone: the nearest framework neighbour of I is I at a/√2 (fcc), not Li at a/2
    expected = np.sqrt(mean_square) / (LATTICE_A / np.sqrt(2))
    for analysis in analyses.values():
        assert analysis.framework_nearest_neighbour_distance_A == pytest.approx(LATTICE_A / np.sqrt(2), rel=1e-3)
        assert analysis.lindemann_ratio == pytest.approx(expected, rel=1e-2)


# -------------------------------------------------------------------------------------------------
# Lindemann ratio on a lattice with Gaussian displacements
# -------------------------------------------------------------------------------------------------


def test_lindemann_ratio_of_gaussian_displacements():
    """Isotropic Gaussian σ on rock salt: γ = sqrt(3) σ / d_nn with d_nn = a/√2 (I to I: the framework alone).

    For i.i.d. displacements the estimator's expectation is 3σ²(1 - 1/N_I)(1 - 1/frames): the
    framework centre of mass and each atom's time average absorb one degree of freedom each.
    The relative sampling error of γ is sqrt(1/(6 N_I frames)) = 0.1 %; the mean positions'
    noise lowers d_nn by ~0.2 %; the tolerance is 1 %.
    """
    repeat, frames = 4, 2000
    phonon = make_phonopy(repeat)
    lattice, cell = phonon.supercell.positions, np.array(phonon.supercell.cell)
    symbols = list(phonon.supercell.symbols)
    masses = np.array(phonon.supercell.masses)
    framework = np.array([symbol == 'I' for symbol in symbols])
    rng = np.random.default_rng(42)
    sigma = np.where(framework, 0.12, 0.2)[None, :, None]
    drift = np.linspace(0.0, 1.0, frames)[:, None, None] * np.array([0.7, -0.4, 0.3])
    unwrapped = lattice + drift + sigma * rng.normal(size=(frames, len(lattice), 3))
    result = framework_lindemann_ratio(unwrapped, cell, masses, framework)
    count = framework.sum()
    expected = np.sqrt(3 * 0.12**2 * (1 - 1 / count) * (1 - 1 / frames)) / (LATTICE_A / np.sqrt(2))
    assert result.atoms == count
    assert result.nearest_neighbour_distance_A == pytest.approx(LATTICE_A / np.sqrt(2), rel=5e-3)
    assert result.lindemann_ratio == pytest.approx(expected, rel=1e-2)
    # Through the top-level function, from wrapped positions (1 fs frames; white-noise velocities,
    # so the spectral range is the whole Nyquist range).
    wrapped = ((unwrapped @ np.linalg.inv(cell)) % 1.0) @ cell
    times = np.arange(frames) * 0.001
    velocities = rng.normal(size=unwrapped.shape)
    analysis = analyse_vibrations(
        wrapped, cell, times, symbols, masses, 'Li', 300.0, velocities=velocities, max_energy_meV=PLANCK_meV_ps / 0.002
    )
    assert analysis.lindemann_ratio == pytest.approx(result.lindemann_ratio, rel=1e-12)


def test_lindemann_ratio_needs_positions_only_and_its_distance_is_the_frameworks():
    """Frames 0.1 ps apart resolve no spectrum, yet γ is computed; mobile ions sitting 0.5 Å from an I
    (closer than any I-I pair) do not change d_nn = a/√2: the neighbour distance is the framework's."""
    repeat, frames, interval_ps = 3, 400, 0.1
    phonon = make_phonopy(repeat)
    lattice, cell = phonon.supercell.positions, np.array(phonon.supercell.cell)
    symbols = list(phonon.supercell.symbols)
    masses = np.array(phonon.supercell.masses)
    framework = np.array([symbol == 'I' for symbol in symbols])
    rng = np.random.default_rng(8)
    sites = lattice.copy()
    iodine = np.flatnonzero(framework)
    sites[~framework] = sites[iodine[: (~framework).sum()]] + np.array([0.5, 0.0, 0.0])  # Li next to an I
    unwrapped = sites + np.where(framework, 0.1, 0.3)[None, :, None] * rng.normal(size=(frames, len(sites), 3))
    wrapped = ((unwrapped @ np.linalg.inv(cell)) % 1.0) @ cell
    times = np.arange(frames) * interval_ps
    with pytest.raises(ValueError, match='Nyquist frequency'):
        analyse_vibrations(wrapped, cell, times, symbols, masses, 'Li', 300.0)
    result = trajectory_lindemann_ratio(wrapped, cell, times, symbols, masses, 'Li')
    assert result.nearest_neighbour_distance_A == pytest.approx(LATTICE_A / np.sqrt(2), rel=5e-3)
    assert nearest_neighbour_distances(sites, cell, framework).mean() == pytest.approx(0.5)  # any species: 0.5 Å
    reference = framework_lindemann_ratio(unwrapped, cell, masses, framework)
    assert result.lindemann_ratio == pytest.approx(reference.lindemann_ratio, rel=1e-10)
    expected = np.sqrt(3 * 0.1**2 * (1 - 1 / framework.sum()) * (1 - 1 / frames)) / (LATTICE_A / np.sqrt(2))
    assert result.lindemann_ratio == pytest.approx(expected, rel=3e-2)
    # equilibration drops the first frames, as in the other analyses
    later = trajectory_lindemann_ratio(wrapped, cell, times, symbols, masses, 'Li', equilibration_ps=10.0)
    assert later.lindemann_ratio == pytest.approx(
        framework_lindemann_ratio(unwrapped[100:], cell, masses, framework).lindemann_ratio, rel=1e-10
    )
    # one framework atom has no framework neighbour: NaN, not a distance to a mobile ion
    single = ['Li'] * len(symbols)
    single[0] = 'I'
    assert np.isnan(trajectory_lindemann_ratio(wrapped, cell, times, single, masses, 'Li').lindemann_ratio)


def test_nearest_neighbour_distances_match_pymatgen():
    """Minimum-image nearest-neighbour distances in a triclinic cell, against pymatgen's distance matrix."""
    from pymatgen.core import Lattice, Structure

    cell = np.array([[7.0, 0.0, 0.0], [2.0, 6.5, 0.0], [-1.5, 1.8, 6.8]])
    fractional = np.random.default_rng(3).uniform(size=(20, 3))
    structure = Structure(Lattice(cell), ['Li'] * 20, fractional)
    matrix = structure.distance_matrix
    np.fill_diagonal(matrix, np.inf)
    centres = np.zeros(20, dtype=bool)
    centres[::3] = True
    ours = nearest_neighbour_distances(fractional @ cell, cell, centres)
    np.testing.assert_allclose(ours, matrix.min(axis=1)[centres], rtol=1e-12)


# -------------------------------------------------------------------------------------------------
# bookkeeping
# -------------------------------------------------------------------------------------------------


def test_groups_batches_and_descriptor_keys(model, analyses):
    """Batching does not change the spectra; 'all' is the atom-weighted mean of the two groups; the keys."""
    velocities = model.velocities[:1200]
    groups = {'all': np.ones(len(model.masses), dtype=bool), 'framework': ~model.mobile, 'mobile': model.mobile}
    one = compute_vibrational_spectra(velocities, model.frame_interval_ps, model.masses, groups, batch_atoms=1)
    many = compute_vibrational_spectra(velocities, model.frame_interval_ps, model.masses, groups, batch_atoms=1000)
    for group in groups:
        np.testing.assert_allclose(one.spectra[group], many.spectra[group], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(one.mass_weighted_spectra[group], many.mass_weighted_spectra[group], atol=1e-12)
    # Raw (un-normalised) VACFs add up: N_all C_all = N_fw C_fw + N_mob C_mob.
    counts = one.atoms
    np.testing.assert_allclose(
        counts['all'] * one.vacf_A2_ps2['all'],
        counts['framework'] * one.vacf_A2_ps2['framework'] + counts['mobile'] * one.vacf_A2_ps2['mobile'],
        rtol=1e-10,
    )

    expected_keys = {
        f'{quantity}_{group}'
        for quantity in (
            'mean_frequency_meV',
            'mean_frequency_30meV_meV',
            'vibrational_energy_eV',
            'heat_capacity_kB',
            'free_energy_eV',
            'entropy_kB',
        )
        for group in ('all', 'framework', 'mobile')
    } | {'debye_temperature_K', 'lindemann_ratio'}
    descriptors = analyses['integrator'].descriptors()
    assert set(descriptors) == expected_keys == set(VIBRATIONAL_DESCRIPTOR_KEYS)
    assert all(isinstance(value, float) and np.isfinite(value) for value in descriptors.values())
    # A uniform drift of the whole crystal (a thermostat artefact) changes nothing: the
    # centre-of-mass velocity is removed, and the Lindemann ratio is measured about the framework.
    drift_velocity = np.array([0.8, -0.5, 0.3])  # Å/ps, ~ the thermal velocity of I
    drifted = analyse_vibrations(
        model.wrapped + model.times_ps[:, None, None] * drift_velocity,
        model.cell,
        model.times_ps,
        model.symbols,
        model.masses,
        'Li',
        TEMPERATURE_K,
        velocities=model.velocities + drift_velocity,
    )
    for key, value in drifted.descriptors().items():
        assert value == pytest.approx(descriptors[key], rel=1e-9), key
    # Without a framework (every atom of the mobile species) its keys and the Lindemann ratio are
    # NaN, never invented, and 'mobile' is 'all'.
    alone = analyse_vibrations(
        model.wrapped[:1200],
        model.cell,
        model.times_ps[:1200],
        ['Li'] * len(model.symbols),
        model.masses,
        'Li',
        TEMPERATURE_K,
        velocities=model.velocities[:1200],
    ).descriptors()
    for key, value in alone.items():
        if key.endswith('_framework') or key == 'lindemann_ratio':
            assert np.isnan(value), key
        elif key.endswith('_mobile'):
            assert value == pytest.approx(alone[key.replace('_mobile', '_all')], rel=1e-12), key
    # Equilibration drops frames from the start.
    shorter = analyse_vibrations(
        model.wrapped,
        model.cell,
        model.times_ps,
        model.symbols,
        model.masses,
        'Li',
        TEMPERATURE_K,
        velocities=model.velocities,
        equilibration_ps=10.0,
    )
    assert shorter.analysed_frames == 2000
    assert shorter.analysed_time_ps == pytest.approx(9.995)


def test_spectrum_beyond_the_declared_range_is_refused(model):
    """Modes above max_energy_meV (here 38 meV > 25 meV) would be cut from every integral: refused."""
    with pytest.raises(ValueError, match='above max_energy_meV=25 meV'):
        analyse_vibrations(
            model.wrapped[:800],
            model.cell,
            model.times_ps[:800],
            model.symbols,
            model.masses,
            'Li',
            TEMPERATURE_K,
            velocities=model.velocities[:800],
            max_energy_meV=25.0,
        )


# -------------------------------------------------------------------------------------------------
# the single chunked pass over the frames and the batch-wise centre-of-mass subtraction
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize('extra_frames', [0, 1, 2, 37])
def test_unwrapped_pass_equals_unwrap_then_lindemann_and_finite_differences(extra_frames):
    from aiida_superionic.descriptors.msd import UNWRAP_FRAME_CHUNK, unwrap_positions

    # chunk boundaries at every offset that matters for the differences (a last chunk of 0-2 frames)
    frames, atoms = 2 * UNWRAP_FRAME_CHUNK + extra_frames, 10
    rng = np.random.default_rng(extra_frames)
    cell = np.array([[6.0, 0.0, 0.0], [1.5, 6.5, 0.0], [0.5, -1.0, 7.0]])
    sites = rng.uniform(0.0, 1.0, (atoms, 3)) @ cell
    walking = np.arange(atoms) >= 7  # three diffusing 'mobile' atoms
    unwrapped = (
        sites
        + np.cumsum(rng.normal(0.0, 0.2, (frames, atoms, 3)), axis=0) * walking[:, None]
        + rng.normal(0.0, 0.15, (frames, atoms, 3))
        + np.linspace(0.0, 2.0, frames)[:, None, None]  # a drift of everything
    )
    wrapped = ((unwrapped @ np.linalg.inv(cell)) % 1.0) @ cell
    masses = rng.uniform(5.0, 80.0, atoms)
    lindemann, velocities = _unwrapped_pass(wrapped, cell, masses, ~walking, 0.004)
    reference = unwrap_positions(wrapped, cell)
    expected = framework_lindemann_ratio(reference, cell, masses, ~walking)
    assert lindemann.lindemann_ratio == pytest.approx(expected.lindemann_ratio, rel=1e-12)
    assert lindemann.nearest_neighbour_distance_A == pytest.approx(expected.nearest_neighbour_distance_A, rel=1e-12)
    np.testing.assert_allclose(velocities, velocities_from_positions(reference, 0.004), rtol=0, atol=1e-9)
    # and framework_lindemann_ratio itself against the definition on whole arrays
    weights = masses[~walking]
    centre = np.einsum('tnk,n->tk', reference[:, ~walking], weights) / weights.sum()
    corrected = reference - (centre - centre[0])[:, None, :]
    deviations = corrected[:, ~walking] - corrected[:, ~walking].mean(axis=0)
    rms = np.sqrt(np.einsum('tnk,tnk->', deviations, deviations) / frames / (~walking).sum())
    assert expected.rms_displacement_A == pytest.approx(rms, rel=1e-12)


def test_spectra_subtract_the_centre_of_mass_velocity_batch_by_batch(model):
    velocities = model.velocities + np.array([0.3, -0.2, 0.1])  # a drift of the whole crystal
    groups = {'all': np.ones(len(model.masses), dtype=bool), 'mobile': model.mobile}
    corrected = vibrational_spectra.remove_centre_of_mass_velocity(velocities, model.masses)
    expected = compute_vibrational_spectra(corrected, model.frame_interval_ps, model.masses, groups)
    before = velocities.copy()
    centre = np.einsum('tnk,n->tk', velocities, model.masses) / model.masses.sum()
    for batch in (1, 7, 1000):
        result = vibrational_spectra._vibrational_spectra(
            velocities, model.frame_interval_ps, model.masses, groups, batch_atoms=batch, centre_velocity=centre
        )
        for name in groups:
            np.testing.assert_allclose(result.spectra[name], expected.spectra[name], rtol=0, atol=1e-12)
            scale = np.abs(expected.vacf_A2_ps2[name]).max()
            np.testing.assert_allclose(result.vacf_A2_ps2[name], expected.vacf_A2_ps2[name], rtol=0, atol=1e-12 * scale)
    np.testing.assert_array_equal(velocities, before)  # the caller's array is not modified
