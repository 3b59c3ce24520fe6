"""``MdWorkChain`` end to end on EMT, its protocols, and bad input refused before anything runs."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.data import atomic_masses, atomic_numbers

from aiida_superionic.descriptors.diffusion import analyse_tracer_diffusion
from aiida_superionic.descriptors.transport import analyse_transport
from aiida_superionic.descriptors.vibrations import analyse_vibrations
from aiida_superionic.engines.ase import get_model_node
from aiida_superionic.workflows.md import MdWorkChain

#: A short, cheap MD on Cu3Au with EMT (Cu is the mobile species by the precedence rule).
OVERRIDES = {'steps': 120, 'equilibration_steps': 20, 'write_interval': 2, 'timestep': 2.0}


def _builder(python_code, structure, temperature=600.0, model=None, **overrides):
    return MdWorkChain.get_builder_from_protocol(
        code=python_code,
        structure=structure,
        temperature=temperature,
        protocol='fast',
        overrides={**OVERRIDES, **overrides},
        model=model if model is not None else get_model_node('emt'),
        options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}},
    )


def test_md_workchain_end_to_end(aiida_profile, python_code, generate_structure):
    """0.24 ps of Cu3Au at 600 K: no Cu hops by the end, so D is undefined (exit 417); every output is still there."""
    structure = generate_structure('cu3au')
    results, node = run_get_node(_builder(python_code, structure))
    assert node.exit_status == MdWorkChain.exit_codes.ERROR_NO_HOPS.status, node.exit_message
    assert {'descriptors', 'msd', 'vdos', 'trajectory', 'output_structure'} <= set(results)

    # Provenance: the MD segment and the descriptor calcfunction are children, linked by label.
    called = {link.link_label: link.node for link in node.base.links.get_outgoing().all()}
    assert called['segment_00'].process_type == 'aiida.workflows:superionic.ase.md_segment'
    assert called['descriptors_01'].is_finished_ok
    trajectory = results['trajectory']
    assert trajectory.uuid == called['segment_00'].outputs.trajectory.uuid == results['segments']['segment_00'].uuid
    assert trajectory.numsteps == 61  # frames at steps 0, 2, ..., 120

    # The descriptors are those of the pure numerics on the same trajectory (computed here independently).
    symbols = list(trajectory.symbols)
    arrays = {
        'positions': trajectory.get_positions(),
        'cells': trajectory.get_cells(),
        'times_ps': trajectory.get_times(),
        'symbols': symbols,
        'masses': [atomic_masses[atomic_numbers[s]] for s in symbols],
        'mobile_species': 'Cu',
    }
    expected = analyse_tracer_diffusion(**arrays)
    transport = analyse_transport(**arrays, temperature_K=600.0, nominal_charge=1)
    settings = node.inputs.analysis_settings.get_dict()
    vibrations = analyse_vibrations(
        **arrays,
        temperature_K=600.0,
        velocities=trajectory.get_velocities(),
        max_energy_meV=settings['max_energy_meV'],
        max_correlation_ps=settings['max_correlation_ps'],
    )
    descriptors = results['descriptors'].get_dict()
    assert descriptors['mobile_species'] == 'Cu'
    assert descriptors['diffusivity_verdict'] == 'too_few_hops'
    assert descriptors['velocity_source'] == 'integrator'
    expected_values = {**transport.descriptors(), **vibrations.descriptors()}
    # The calcfunction stores the conductivities' temperature once, as `temperature_K`.
    assert descriptors['temperature_K'] == expected_values.pop('conductivity_temperature_K') == 600.0
    for key, value in expected_values.items():
        if isinstance(value, str):
            assert descriptors[key] == value, key
        else:
            np.testing.assert_allclose(descriptors[key], value, rtol=1e-9, atol=1e-15, err_msg=key)
    for group in ('all', 'framework', 'mobile'):
        np.testing.assert_allclose(results['vdos'].get_array(f'g_{group}'), vibrations.spectra[group])
    assert descriptors['diffusion_coefficient_cm2_s'] == pytest.approx(expected.fit.diffusion_coefficient_cm2_s)
    assert descriptors['msd_A2'] == pytest.approx(expected.fit.msd_at_fit_end_A2)
    # The paper's window: τmax is half the 0.24 ps run, the fit starts at τmax/2.
    assert descriptors['diffusion_fit_end_ps'] == pytest.approx(0.12)
    assert descriptors['diffusion_fit_start_ps'] == pytest.approx(0.06)
    msd = results['msd']
    assert msd.get_array('lag_time_ps')[-1] == pytest.approx(0.12)
    np.testing.assert_allclose(msd.get_array('msd_A2'), expected.msd_A2)


def test_md_workchain_reports_its_steps(aiida_profile, python_code, generate_structure):
    from aiida.cmdline.utils.common import get_workchain_report

    _, node = run_get_node(_builder(python_code, generate_structure('cu3au'), steps=60))
    report = get_workchain_report(node, 'REPORT')
    assert 'launching segment 0' in report
    assert 'launching AseCalculation' in report
    assert 'D(Cu) =' in report


def test_md_workchain_handles_a_failed_md(aiida_profile, python_code, generate_structure):
    """The computer's EMT is not the recorded model: the MD fails, the workchain says which calculation and why."""
    model = get_model_node('emt')
    model['weights_sha256'] = '0' * 64  # a model this computer does not have
    _, node = run_get_node(_builder(python_code, generate_structure('cu3au'), model=model, steps=20))
    assert node.exit_status == MdWorkChain.exit_codes.ERROR_MD_FAILED.status
    assert 'model mismatch' in node.exit_message


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ({'temperature': 0.0}, '`temperature` must be > 0'),
        ({'temperature': -300.0}, '`temperature` must be > 0'),
        ({'timestep': 0.0}, '`timestep` must be > 0'),
        ({'steps': 0}, '`steps` must be > 0'),
        ({'mobile_species': 'Li'}, 'no atom of the mobile species Li'),
        ({'engine': 'lammps'}, '`engine` must be one of'),
        ({'analysis_settings': {'hop_fractoin': 0.5}}, 'unknown `analysis_settings` keys'),
    ],
)
def test_bad_input_is_refused_before_anything_runs(aiida_profile, python_code, generate_structure, change, message):
    builder = _builder(python_code, generate_structure('cu3au'))
    port_types = {
        'temperature': orm.Float,
        'timestep': orm.Float,
        'steps': orm.Int,
        'mobile_species': orm.Str,
        'engine': orm.Str,
        'analysis_settings': orm.Dict,
    }
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    # Refused at assignment to the builder (a port validator) or at launch (the inputs validator).
    with pytest.raises(ValueError, match=message):  # noqa: PT012
        for key, value in change.items():
            setattr(builder, key, port_types[key](value))
        run_get_node(builder)
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before


def test_a_structure_without_any_mobile_species_is_refused(aiida_profile, python_code, generate_structure):
    builder = _builder(python_code, generate_structure('au'))
    with pytest.raises(ValueError, match='no candidate mobile species'):
        run_get_node(builder)


def test_protocols(python_code, generate_structure, aiida_profile):
    assert set(MdWorkChain.get_available_protocols()) == {'fast', 'balanced', 'stringent'}
    assert MdWorkChain.get_default_protocol() == 'balanced'
    stringent = MdWorkChain.get_protocol_inputs('stringent')
    assert stringent['timestep'] == 1.5  # the paper's time step
    builder = _builder(python_code, generate_structure('cu3au'), steps=77)
    assert builder.steps.value == 77
    assert builder.ase.metadata.options.resources == {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    with pytest.raises(ValueError, match='unknown protocol'):
        MdWorkChain.get_protocol_inputs('fastest')
    with pytest.raises(ValueError, match='unknown override `stepz`'):
        MdWorkChain.get_protocol_inputs('fast', overrides={'stepz': 3})
    with pytest.raises(ValueError, match=r'unknown override `analysis_settings\.hop`'):
        MdWorkChain.get_protocol_inputs('fast', overrides={'analysis_settings': {'hop': 3}})


@pytest.mark.parametrize('protocol', ['fast', 'balanced', 'stringent'])
def test_protocol_builders(
    aiida_profile, python_code, generate_structure, serialize_builder, data_regression, protocol
):
    """The inputs each protocol gives, with the default CHGNet model; a change to them must be deliberate."""
    pytest.importorskip('chgnet')
    builder = MdWorkChain.get_builder_from_protocol(
        code=python_code, structure=generate_structure('li3n'), temperature=700.0, protocol=protocol
    )
    data_regression.check(serialize_builder(builder))
