"""The zero-temperature workchains on the ASE engine: tasks, elastic tensor, Γ phonons, vacancy."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_superionic.descriptors.elastic import mechanical_descriptors
from aiida_superionic.descriptors.elastic_fit import (
    deform_cell,
    fit_elastic_tensor,
    strain_deformations,
    symmetrize_fitted_tensor,
)
from aiida_superionic.workflows.ase_task import AseTaskWorkChain
from aiida_superionic.workflows.elastic import ElasticWorkChain
from aiida_superionic.workflows.task import task_parameters

GPA_PER_EV_A3 = 160.2176634


def _emt_stress_GPa(atoms):
    from ase.calculators.emt import EMT

    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_stress(voigt=False) * GPA_PER_EV_A3


def test_elastic_fit_of_emt_copper_agrees_with_the_equation_of_state():
    """The fitted bulk modulus (C11 + 2 C12)/3 equals B of an E(V) fit: two routes, one number."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.eos import EquationOfState
    from ase.units import GPa

    atoms = bulk('Cu', 'fcc', a=3.59, cubic=True)
    deformations = strain_deformations([-0.01, -0.005, 0.005, 0.01], [-0.02, -0.01, 0.01, 0.02])
    stresses = []
    for gradient in deformations:
        strained = atoms.copy()
        strained.set_cell(deform_cell(atoms.cell.array, gradient), scale_atoms=True)
        stresses.append(_emt_stress_GPa(strained))
    C = fit_elastic_tensor(deformations, stresses, _emt_stress_GPa(atoms))

    volumes, energies = [], []
    for scale in np.linspace(0.98, 1.02, 9):
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell.array * scale, scale_atoms=True)
        scaled.calc = EMT()
        volumes.append(scaled.get_volume())
        energies.append(scaled.get_potential_energy())
    eos = EquationOfState(volumes, energies)
    _, _, bulk_modulus = eos.fit()
    assert (C[0, 0] + 2 * C[0, 1]) / 3 == pytest.approx(bulk_modulus / GPa, rel=0.01)
    assert np.allclose(C, C.T, atol=0.05)
    assert C[0, 0] == pytest.approx(C[1, 1])
    assert C[3, 3] == pytest.approx(C[5, 5])
    assert C[3, 3] > 50.0  # EMT copper: C44 ≈ 90 GPa (Jacobsen et al. 1996)


def test_a_shear_strain_is_a_single_voigt_component():
    from pymatgen.analysis.elasticity import Deformation

    for gradient in strain_deformations([0.01], [0.02]):
        strain = Deformation(gradient).green_lagrange_strain.voigt
        assert np.count_nonzero(np.abs(strain) > 1e-12) == 1


@pytest.mark.parametrize(
    ('normal', 'shear', 'message'),
    [
        ([], [0.01], 'empty'),
        ([0.0, 0.01], [0.01], 'non-zero'),
        ([0.2], [0.01], 'below 0.1'),
        ([0.01, 0.01], [0.02], 'repeats'),
    ],
)
def test_bad_strains_are_refused(normal, shear, message):
    with pytest.raises(ValueError, match=message):
        strain_deformations(normal, shear)


def test_ase_task_static_and_relax(aiida_profile, python_code, emt_model, generate_structure):
    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    common = {'ase': {'code': python_code, 'model': emt_model}}
    static, node = run_get_node(
        AseTaskWorkChain, structure=structure, parameters=orm.Dict(task_parameters('static')), **common
    )
    assert node.is_finished_ok, node.exit_message
    assert static['stress'].get_array('stress') == pytest.approx(_emt_stress_GPa(structure.get_ase()), abs=1e-8)
    assert static['structure'].uuid == structure.uuid

    atoms = structure.get_ase()
    atoms.rattle(0.05, seed=3)
    relaxed, node = run_get_node(
        AseTaskWorkChain,
        structure=orm.StructureData(ase=atoms),
        parameters=orm.Dict(task_parameters('relax', fmax_eV_A=0.005)),
        **common,
    )
    assert node.is_finished_ok, node.exit_message
    assert np.abs(relaxed['forces'].get_array('forces')).max() < 0.005
    assert relaxed['energy'].value < static['energy'].value + 1e-3


def test_ase_task_relax_continues_until_converged_or_stops_with_its_structure(
    aiida_profile, python_code, emt_model, generate_structure
):
    atoms = generate_structure('cu3au', repeat=1, vacancy=False).get_ase()
    atoms.rattle(0.1, seed=5)
    inputs = {
        'ase': {'code': python_code, 'model': emt_model},
        'structure': orm.StructureData(ase=atoms),
        'parameters': orm.Dict(task_parameters('relax', fmax_eV_A=0.001, max_steps=3)),
    }
    results, node = run_get_node(AseTaskWorkChain, **inputs, max_iterations=orm.Int(2))
    assert node.exit_status == AseTaskWorkChain.exit_codes.ERROR_RELAX_NOT_CONVERGED.status
    assert 'structure' in results  # the last structure is kept
    assert len(node.called) == 2

    # Continued from the last structure of each job: with a looser threshold it converges in a few jobs.
    inputs['parameters'] = orm.Dict(task_parameters('relax', fmax_eV_A=0.02, max_steps=15))
    results, node = run_get_node(AseTaskWorkChain, **inputs, max_iterations=orm.Int(10))
    assert node.is_finished_ok, node.exit_message
    jobs = sorted((child for child in node.called if child.process_label == 'AseCalculation'), key=lambda n: n.ctime)
    assert len(jobs) > 1
    assert jobs[1].inputs.structure.uuid == jobs[0].outputs.output_structure.uuid  # continued, not restarted
    assert np.abs(results['forces'].get_array('forces')).max() < 0.02


def test_the_ase_engine_refuses_dfpt(python_code, emt_model, generate_structure):
    with pytest.raises(ValueError, match='cannot run the task'):
        run_get_node(
            AseTaskWorkChain,
            structure=generate_structure('cu3au', repeat=1, vacancy=False),
            parameters=orm.Dict({'task': 'dfpt'}),
            ase={'code': python_code, 'model': emt_model},
        )


def test_elastic_workchain_on_the_ase_engine(aiida_profile, python_code, emt_model, generate_structure):
    """The workchain's tensor equals the direct fit of the same strains; its descriptors the direct function's."""
    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    builder = ElasticWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=emt_model)
    builder.relax_ions = orm.Bool(False)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message

    atoms = structure.get_ase()
    strains = builder.strains.get_dict()
    deformations = strain_deformations(strains['normal_strains'], strains['shear_strains'])
    stresses = []
    for gradient in deformations:
        strained = atoms.copy()
        strained.set_cell(deform_cell(atoms.cell.array, gradient), scale_atoms=True)
        stresses.append(_emt_stress_GPa(strained))
    expected, _ = symmetrize_fitted_tensor(fit_elastic_tensor(deformations, stresses, _emt_stress_GPa(atoms)))
    tensor = results['elastic_tensor'].get_array('elastic_tensor_GPa')
    assert tensor == pytest.approx(expected, abs=1e-6)
    direct = mechanical_descriptors(expected, structure.get_pymatgen_structure().density)
    values = results['descriptors'].get_dict()
    for key, value in direct.items():
        assert values[key] == pytest.approx(value, rel=1e-6), key
    labels = {link.link_label for link in node.base.links.get_outgoing().all()}
    assert {'reference', 'strained_00', 'strained_11', 'generate_strains', 'fit_elastic_tensor'} <= labels


def _gamma_frequencies_by_hand(atoms, delta: float = 0.005) -> np.ndarray:
    """Γ modes (THz) of the periodic cell itself by central differences: displacing an atom of a 1 × 1 × 1
    periodic cell moves all its images, which is the Γ-point force constant; independent of phonopy."""
    from ase.calculators.emt import EMT
    from ase.units import _amu, _e

    count = len(atoms)
    constants = np.zeros((3 * count, 3 * count))
    for atom in range(count):
        for axis in range(3):
            forces = []
            for sign in (1, -1):
                displaced = atoms.copy()
                displaced.positions[atom, axis] += sign * delta
                displaced.calc = EMT()
                forces.append(displaced.get_forces().ravel())
            constants[:, 3 * atom + axis] = -(forces[0] - forces[1]) / (2 * delta)
    constants = (constants + constants.T) / 2
    masses = np.repeat(atoms.get_masses(), 3)
    eigenvalues = np.linalg.eigvalsh(constants / np.sqrt(np.outer(masses, masses)))  # eV/Å²/amu
    omega = np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues) * _e / _amu) * 1e10  # rad/s
    return np.sort(omega / (2 * np.pi) / 1e12)


def test_phonons_workchain_on_the_ase_engine(aiida_profile, python_code, emt_model, generate_structure):
    """Γ modes of Cu3Au (EMT) from the workchain equal a hand-made Γ dynamical matrix; the descriptor is the
    direct function's; a 2 × 2 × 2 supercell gives the same Γ modes as the unit cell."""
    from aiida_superionic.descriptors.structural import lowest_optical_frequency_meV
    from aiida_superionic.workflows.phonons import PhononsWorkChain

    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    builder = PhononsWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=emt_model)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    frequencies = results['gamma_frequencies'].get_array('frequencies_THz')
    expected = _gamma_frequencies_by_hand(structure.get_ase())
    assert frequencies == pytest.approx(expected, abs=0.02)
    values = results['descriptors'].get_dict()
    assert values['lowest_optical_frequency_meV'] == pytest.approx(lowest_optical_frequency_meV(frequencies))
    assert values['imaginary_optical_modes'] == 0
    assert 'nac_parameters' not in results  # the ASE engine has no Born charges: absent, not invented
    assert 'supercell_0' in {link.link_label for link in node.base.links.get_outgoing().all()}

    builder = PhononsWorkChain.get_builder_from_protocol(
        python_code, structure, 'fast', overrides={'supercell_min_length': 7.0}, model=emt_model
    )
    assert builder.supercell_matrix.get_list() == [2, 2, 2]
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    assert results['gamma_frequencies'].get_array('frequencies_THz') == pytest.approx(frequencies, abs=0.02)


def test_vacancy_sites_are_the_symmetry_orbits_and_the_draw_is_seeded(generate_structure):
    from aiida_superionic.descriptors.vacancy import choose_vacancy_site, symmetry_distinct_sites

    li3n = generate_structure('li3n', repeat=1, vacancy=False).get_pymatgen_structure()
    orbits = symmetry_distinct_sites(li3n * [2, 2, 2], 'Li')
    assert sorted(group['multiplicity'] for group in orbits) == [8, 16]  # Li(1) on 1b, Li(2) on 2c
    draws = {choose_vacancy_site(orbits, seed) for seed in range(20)}
    assert {orbit for orbit, _ in draws} == {0, 1}  # both orbits reachable
    assert choose_vacancy_site(orbits, 7) == choose_vacancy_site(orbits, 7)
    with pytest.raises(ValueError, match='has no Na site'):
        symmetry_distinct_sites(li3n, 'Na')


def test_vacancy_workchain_on_the_ase_engine(aiida_profile, python_code, emt_model, generate_structure):
    """E_vac of Cu in Cu3Au (EMT) equals the formula on energies computed directly with ASE."""
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    from aiida_superionic.workflows.vacancy import VacancyWorkChain

    structure = generate_structure('cu3au', repeat=1, vacancy=False)
    builder = VacancyWorkChain.get_builder_from_protocol(
        python_code, structure, 'fast', overrides={'max_force': 0.005}, model=emt_model
    )
    assert builder.supercell_matrix.get_list() == [2, 2, 2]
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    values = results['descriptors'].get_dict()
    vacancy = results['vacancy'].get_dict()
    assert vacancy['mobile_species'] == 'Cu'
    assert len(vacancy['orbits']) == 1  # the three Cu of L1_2 are one orbit
    assert len(results['defective'].sites) == len(results['pristine'].sites) - 1

    def relaxed_energy(atoms, cell=False):
        atoms = atoms.copy()
        atoms.calc = EMT()
        FIRE(FrechetCellFilter(atoms) if cell else atoms, logfile=None).run(fmax=0.001, steps=2000)
        return atoms.get_potential_energy(), len(atoms)

    supercell = structure.get_ase().repeat(2)
    pristine, _ = relaxed_energy(supercell)
    defective_atoms = supercell.copy()
    offsets = (supercell.get_scaled_positions() - vacancy['site_fractional'] + 0.5) % 1.0 - 0.5
    (site,) = np.flatnonzero(np.linalg.norm(offsets, axis=1) < 1e-6)  # ASE orders a repeat unlike pymatgen
    assert defective_atoms[site].symbol == 'Cu'
    del defective_atoms[site]
    defective, _ = relaxed_energy(defective_atoms)
    from ase.build import bulk

    reference, atoms = relaxed_energy(bulk('Cu'), cell=True)
    expected = defective - pristine + reference / atoms
    assert values['vacancy_formation_energy_eV'] == pytest.approx(expected, abs=0.01)
    assert values['chemical_potential_eV'] == pytest.approx(reference / atoms, abs=0.002)
    assert 'ase.build.bulk' in values['chemical_potential_reference']
    assert values['charge'] == 0


def test_vacancy_inputs_are_refused_before_anything_runs(python_code, emt_model, generate_structure):
    from aiida_superionic.workflows.vacancy import VacancyWorkChain

    au = generate_structure('au', repeat=1, vacancy=False)
    builder = VacancyWorkChain.get_builder_from_protocol(python_code, au, 'fast', model=emt_model)
    with pytest.raises(ValueError, match='mobile'):
        run_get_node(builder)
    cu3au = generate_structure('cu3au', repeat=1, vacancy=False)
    builder = VacancyWorkChain.get_builder_from_protocol(python_code, cu3au, 'fast', model=emt_model)
    builder.charged = orm.Bool(True)
    with pytest.raises(ValueError, match='charged vacancy needs electrons'):
        run_get_node(builder)
