"""The zero-temperature workchains on Li3N with the bundled CHGNet, checked against CHGNet run here directly."""

from __future__ import annotations

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
from aiida_superionic.descriptors.phonons import gamma_descriptors, gamma_frequencies_THz
from aiida_superionic.descriptors.vacancy import vacancy_formation_energy
from aiida_superionic.engines.ase import get_model_node
from aiida_superionic.workflows.ase_task import AseTaskWorkChain
from aiida_superionic.workflows.elastic import ElasticWorkChain
from aiida_superionic.workflows.phonons import PhononsWorkChain
from aiida_superionic.workflows.task import task_parameters
from aiida_superionic.workflows.vacancy import VacancyWorkChain

pytestmark = [pytest.mark.chgnet, pytest.mark.slow]

GPA_PER_EV_A3 = 160.2176634


@pytest.fixture(scope='module')
def chgnet_calculator():
    import torch
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(1)
    return CHGNetCalculator(model=CHGNet.load(model_name='0.3.0', verbose=False), use_device='cpu')


def _with(calculator, atoms):
    atoms = atoms.copy()
    atoms.calc = calculator
    return atoms


def test_li3n_relax_elastic_phonons_vacancy(aiida_profile, python_code, generate_structure, chgnet_calculator):
    model = get_model_node('chgnet')
    engine = {'code': python_code, 'model': model}
    start = generate_structure('li3n', repeat=1, vacancy=False)
    relaxed, node = run_get_node(
        AseTaskWorkChain,
        structure=start,
        parameters=orm.Dict(task_parameters('relax', relax_cell=True, fmax_eV_A=0.002, max_steps=1000)),
        ase=engine,
    )
    assert node.is_finished_ok, node.exit_message
    structure = relaxed['structure']
    atoms = structure.get_ase()

    # Elastic, clamped ions so that CHGNet run here gives the same stresses: the workchain's fit is the direct one.
    builder = ElasticWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=model)
    builder.relax_ions = orm.Bool(False)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    strains = builder.strains.get_dict()
    deformations = strain_deformations(strains['normal_strains'], strains['shear_strains'])
    stresses = []
    for gradient in deformations:
        strained = atoms.copy()
        strained.set_cell(deform_cell(atoms.cell.array, gradient), scale_atoms=True)
        stresses.append(_with(chgnet_calculator, strained).get_stress(voigt=False) * GPA_PER_EV_A3)
    reference = _with(chgnet_calculator, atoms).get_stress(voigt=False) * GPA_PER_EV_A3
    direct, _ = symmetrize_fitted_tensor(fit_elastic_tensor(deformations, stresses, reference))
    tensor = results['elastic_tensor'].get_array('elastic_tensor_GPa')
    assert tensor == pytest.approx(direct, abs=0.5)  # float32 CHGNet in two processes
    values = results['descriptors'].get_dict()
    expected = mechanical_descriptors(tensor, structure.get_pymatgen_structure().density)
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, rel=1e-9), key
    assert 20.0 < values['bulk_modulus_GPa'] < 120.0  # Li3N: B ≈ 60 GPa (DFT); a soft ML potential lower

    # Γ phonons: phonopy run here on the workchain's displacements with CHGNet's forces gives the same modes
    # (the physics of the route is checked against a hand-made dynamical matrix on EMT, a smooth potential).
    builder = PhononsWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=model)
    assert builder.displacement_generator['distance'] == 0.03
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    frequencies = results['gamma_frequencies'].get_array('frequencies_THz')
    assert frequencies.size == 12
    phonon = results['phonopy_data'].get_phonopy_instance()
    phonon.forces = [
        _with(chgnet_calculator, _ase(supercell)).get_forces() for supercell in phonon.supercells_with_displacements
    ]
    assert frequencies == pytest.approx(gamma_frequencies_THz(phonon), abs=0.1)
    descriptors = results['descriptors'].get_dict()
    for key, value in gamma_descriptors(frequencies).items():
        assert descriptors[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # CHGNet finds an imaginary optical mode of P6/mmm Li3N (about -3.4 THz): reported negative and counted.
    assert descriptors['lowest_optical_frequency_meV'] < 0
    assert descriptors['imaginary_optical_modes'] >= 1

    # Vacancy: the formation energy is the formula on the workchain's energies, and μ(Li) is bcc Li's energy.
    builder = VacancyWorkChain.get_builder_from_protocol(python_code, structure, 'fast', model=model)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    values = results['descriptors'].get_dict()
    assert values['vacancy_formation_energy_eV'] == pytest.approx(
        vacancy_formation_energy(
            values['defective_energy_eV'], values['pristine_energy_eV'], values['chemical_potential_eV']
        )
    )
    from ase.build import bulk

    lithium = _with(chgnet_calculator, bulk('Li'))
    assert values['chemical_potential_eV'] == pytest.approx(lithium.get_potential_energy(), abs=0.05)
    assert 0.0 < values['vacancy_formation_energy_eV'] < 4.0


def _ase(phonopy_atoms):
    from ase import Atoms

    return Atoms(
        phonopy_atoms.symbols, cell=phonopy_atoms.cell, scaled_positions=phonopy_atoms.scaled_positions, pbc=True
    )
