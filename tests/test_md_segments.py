"""MD in segments: continuation with positions and velocities, convergence, guards, wall-time restarts, restart_from."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_superionic.engines.ase import get_model_node
from aiida_superionic.workflows.ase_segment import AseMdSegmentWorkChain
from aiida_superionic.workflows.md import MdWorkChain

#: Cu3Au with EMT: at 600 K a crystal (no hops in a fraction of a ps); at 2500 K a melt (Cu hops, the framework too).
BASE = {'steps': 60, 'equilibration_steps': 10, 'write_interval': 2, 'timestep': 2.0}


#: A melt: 3000 K reached fast (a short thermostat time), 1 ps segments.
MELT = {'steps': 500, 'equilibration_steps': 200, 'write_interval': 5, 'thermostat_timescale': 20.0}


def _builder(python_code, generate_structure, temperature=600.0, **overrides):
    return MdWorkChain.get_builder_from_protocol(
        code=python_code,
        structure=generate_structure('cu3au'),
        temperature=temperature,
        protocol='fast',
        overrides={**BASE, **overrides},
        model=get_model_node('emt'),
        options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}},
    )


def _segments_called(node):
    return [
        link.node
        for link in node.base.links.get_outgoing().all()
        if link.node.process_type == 'aiida.workflows:superionic.ase.md_segment'
    ]


def test_segments_continue_until_the_target_or_the_most_steps(aiida_profile, python_code, generate_structure):
    """A target D cannot reach in 2 ps: two segments, the second from the last frame of the first, then exit 414."""
    builder = _builder(python_code, generate_structure, temperature=3000.0, segment_steps=500, max_steps=1000, **MELT)
    builder.target_relative_uncertainty = orm.Float(1e-6)
    builder.max_lindemann_ratio = orm.Float(100.0)  # a melt, on purpose
    builder.max_energy_drift = orm.Float(1e4)  # EMT is not smooth enough for a 2 fs melt
    results, node = run_get_node(builder)
    assert node.exit_status == MdWorkChain.exit_codes.ERROR_NOT_CONVERGED.status, node.exit_message
    first, second = sorted(_segments_called(node), key=lambda segment: segment.pk)
    assert first.inputs.parameters['equilibration_steps'] == 200
    assert second.inputs.parameters['equilibration_steps'] == 0
    # Segment 2 starts at the last frame of segment 1, with its velocities.
    end = first.outputs.trajectory
    np.testing.assert_allclose(second.inputs.structure.get_ase().positions, end.get_positions()[-1], atol=1e-12)
    np.testing.assert_allclose(second.inputs.velocities.get_array('velocities'), end.get_velocities()[-1], atol=1e-12)
    assert second.inputs.structure.creator.process_label == 'last_frame'
    # One trajectory with one time axis: 0, 10, ..., 2000 fs (the repeated start frame of segment 2 dropped).
    trajectory = results['trajectory']
    np.testing.assert_allclose(trajectory.get_times(), np.arange(201) * 0.010, atol=1e-12)
    np.testing.assert_allclose(trajectory.get_positions()[100], end.get_positions()[-1])
    assert set(results['segments']) == {'segment_00', 'segment_01'}
    assert results['descriptors']['analysed_frames'] == 201
    assert results['descriptors']['mobile_ion_hops'] > 0


def test_a_reachable_target_stops_after_the_fewest_steps(aiida_profile, python_code, generate_structure):
    builder = _builder(
        python_code,
        generate_structure,
        temperature=3000.0,
        segment_steps=500,
        max_steps=2000,
        **MELT,
        analysis_settings={'min_hops': 1},  # this test is about the target, not the verdict
    )
    builder.target_relative_uncertainty = orm.Float(10.0)
    builder.max_lindemann_ratio = orm.Float(100.0)
    builder.max_energy_drift = orm.Float(1e4)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    assert len(_segments_called(node)) == 1
    assert results['trajectory'].numsteps == 101


def test_energy_drift_guard(aiida_profile, python_code, generate_structure):
    builder = _builder(python_code, generate_structure)
    builder.max_energy_drift = orm.Float(1e-9)
    results, node = run_get_node(builder)
    assert node.exit_status == MdWorkChain.exit_codes.ERROR_ENERGY_DRIFT.status, node.exit_message
    assert 'meV/atom/ps' in node.exit_message
    assert abs(results['descriptors']['energy_drift_meV_atom_ps']) > 1e-9
    assert {'descriptors', 'msd', 'trajectory'} <= set(results)


def test_melted_framework_guard(aiida_profile, python_code, generate_structure):
    builder = _builder(python_code, generate_structure, temperature=3000.0, segment_steps=500, max_steps=5000, **MELT)
    builder.target_relative_uncertainty = orm.Float(1e-6)
    builder.max_energy_drift = orm.Float(1e4)
    builder.max_lindemann_ratio = orm.Float(0.15)
    results, node = run_get_node(builder)
    assert node.exit_status == MdWorkChain.exit_codes.ERROR_FRAMEWORK_MELTED.status, node.exit_message
    assert results['descriptors']['lindemann_ratio'] > 0.15
    assert len(_segments_called(node)) < 10  # stopped when it melted, not run to max_steps

    # Extended as it is, it stops at once on the same guard: no segment is run on a melted framework.
    again = run_get_node(MdWorkChain.get_builder_restart(node))[1]
    assert again.exit_status == MdWorkChain.exit_codes.ERROR_FRAMEWORK_MELTED.status, again.exit_message
    assert _segments_called(again) == []
    # With the guard lifted, the reused segments are analysed and the run goes on (here: already at max_steps).
    steps_done = round(results['trajectory'].get_times()[-1] * 1000 / builder.timestep.value)
    lifted = MdWorkChain.get_builder_restart(node, max_lindemann_ratio=orm.Float(100.0), max_steps=orm.Int(steps_done))
    lifted.steps = orm.Int(min(steps_done, builder.steps.value))
    again = run_get_node(lifted)[1]
    assert again.exit_status == MdWorkChain.exit_codes.ERROR_NOT_CONVERGED.status, again.exit_message
    assert _segments_called(again) == []


def test_no_hops_guard(aiida_profile, python_code, generate_structure):
    results, node = run_get_node(_builder(python_code, generate_structure))
    assert node.exit_status == MdWorkChain.exit_codes.ERROR_NO_HOPS.status, node.exit_message
    assert results['descriptors']['mobile_ion_hops'] == 0


def test_a_wall_time_stop_mid_segment_continues_from_the_last_frame(aiida_profile, python_code, generate_structure):
    """Jobs stopped at the wall time: the segment runs on from their last frames and no frame is lost.

    How many steps a 4 s job makes depends on the machine's load (over 800 on a quiet machine, 100 under CI's), so
    the segment may take as many jobs as it needs here: the test is about continuity, not the allowance of jobs.
    """
    inputs = {
        'structure': generate_structure('cu3au'),
        'parameters': orm.Dict(
            {'temperature_K': 600.0, 'timestep_fs': 2.0, 'steps': 3000, 'write_interval': 20, 'equilibration_steps': 0}
        ),
        'ase': {
            'code': python_code,
            'model': get_model_node('emt'),
            'metadata': {'options': {'resources': {'num_machines': 1}, 'max_wallclock_seconds': 4}},
        },
        'max_iterations': orm.Int(200),
    }
    results, segment = run_get_node(AseMdSegmentWorkChain, **inputs)
    assert segment.is_finished_ok, segment.exit_message
    jobs = [link.node for link in segment.base.links.get_outgoing().all() if link.link_label.startswith('iteration_')]
    assert len(jobs) >= 2
    assert jobs[0].exit_status == 400  # ERROR_OUT_OF_WALLTIME
    times = results['trajectory'].get_times()
    np.testing.assert_allclose(times, np.arange(151) * 0.04, atol=1e-9)  # 3000 steps, every 20th frame, 2 fs


def test_restart_from_reuses_the_segments_of_an_earlier_run(aiida_profile, python_code, generate_structure):
    first_results, first = run_get_node(_builder(python_code, generate_structure))
    builder = MdWorkChain.get_builder_restart(first, max_steps=orm.Int(120), segment_steps=orm.Int(60))
    builder.target_relative_uncertainty = orm.Float(1e-6)
    results, node = run_get_node(builder)
    assert len(_segments_called(node)) == 1  # the first segment is not run again
    assert results['segments']['segment_00'].uuid == first_results['segments']['segment_00'].uuid
    assert node.inputs.restart_from['segment_00'].uuid == first_results['segments']['segment_00'].uuid
    assert results['trajectory'].numsteps == 61
    new = _segments_called(node)[0]
    np.testing.assert_allclose(
        new.inputs.velocities.get_array('velocities'), first_results['trajectory'].get_velocities()[-1], atol=1e-12
    )


def test_segment_parameters_are_checked(aiida_profile):
    from aiida_superionic.workflows.segment import validate_segment_parameters
    from aiida_superionic.workflows.vasp_segment import VaspMdSegmentWorkChain

    good = {'temperature_K': 600.0, 'timestep_fs': 2.0, 'steps': 10, 'write_interval': 5}
    assert validate_segment_parameters(orm.Dict(good), None) is None
    assert 'multiple of `write_interval`' in validate_segment_parameters(orm.Dict({**good, 'steps': 12}), None)
    assert "unknown `parameters` ['stepz']" in validate_segment_parameters(orm.Dict({**good, 'stepz': 1}), None)
    assert "lacks ['timestep_fs']" in validate_segment_parameters(
        orm.Dict({k: v for k, v in good.items() if k != 'timestep_fs'}), None
    )
    # One interface: every engine's segment checks its parameters with the same validator.
    for segment in (AseMdSegmentWorkChain, VaspMdSegmentWorkChain):
        assert segment.spec().inputs['parameters'].validator is validate_segment_parameters


def test_a_killed_run_is_continued_with_restart_from(
    aiida_profile, python_code, generate_structure, started_daemon_client
):
    """Submitted to the daemon and killed in its second segment: the restart runs only the segments that are missing."""
    import time

    from aiida.engine import submit
    from aiida.engine.processes.control import kill_processes

    builder = _builder(
        python_code, generate_structure, steps=1000, segment_steps=1000, max_steps=3000, write_interval=10
    )
    builder.target_relative_uncertainty = orm.Float(1e-6)  # never reached: three segments
    node = submit(builder)
    deadline = time.monotonic() + 180
    # Outputs in a namespace are linked as `segments__segment_00`: kill once the first segment is out.
    while 'segments__segment_00' not in node.base.links.get_outgoing().all_link_labels():
        assert not node.is_terminated, f'the run ended before it could be killed: {node.exit_message}'
        assert time.monotonic() < deadline, 'the first segment did not finish in time'
        time.sleep(0.5)
    kill_processes([node], timeout=60)
    while not node.is_terminated:
        assert time.monotonic() < deadline, 'the kill did not take'
        time.sleep(0.5)
    assert node.is_killed, node.process_state
    done = dict(node.outputs.segments.items())
    assert 1 <= len(done) < 3

    results, restarted = run_get_node(MdWorkChain.get_builder_restart(node))
    # Cu3Au at 600 K: a crystal, no hop in the 6 ps (417) — what matters here is what ran.
    assert restarted.exit_status == MdWorkChain.exit_codes.ERROR_NO_HOPS.status, restarted.exit_message
    assert len(_segments_called(restarted)) == 3 - len(done)  # finished segments are not run again
    for label, segment in done.items():
        assert restarted.inputs.restart_from[label].uuid == segment.uuid == results['segments'][label].uuid
    np.testing.assert_allclose(results['trajectory'].get_times(), np.arange(301) * 0.02, atol=1e-9)


def _trajectory(times_ps, conserved, positions_offset=0.0):
    from aiida_superionic.common.trajectory import build_trajectory

    frames = len(times_ps)
    positions = np.zeros((frames, 2, 3)) + positions_offset + np.arange(frames)[:, None, None] * 0.01
    return build_trajectory(
        ['Li', 'Cl'],
        positions,
        np.broadcast_to(np.eye(3) * 5.0, (frames, 3, 3)),
        np.asarray(times_ps),
        np.rint(np.asarray(times_ps) / 0.002).astype(int),  # 2 fs steps
        frame_arrays={'conserved_energy_eV': np.asarray(conserved, dtype=float)},
    )


def test_stitching_drops_repeated_start_frames_and_carries_the_conserved_energy_on(aiida_profile):
    from aiida_superionic.calculations.functions.stitch_trajectories import stitch_trajectories

    first = _trajectory([0.0, 0.01, 0.02], [-10.0, -10.0, -10.1])
    second = _trajectory([0.0, 0.01, 0.02], [3.0, 3.0, 3.1])  # the thermostat's energy started again at 0
    third = _trajectory([0.01, 0.02], [5.0, 5.0])  # a VASP-like segment: no start frame
    result, node = stitch_trajectories.run_get_node(segment_00=first, segment_01=second)
    assert node.is_finished_ok, node.exit_message
    stitched = result['trajectory']
    np.testing.assert_allclose(stitched.get_times(), [0.0, 0.01, 0.02, 0.03, 0.04], atol=1e-12)
    np.testing.assert_allclose(stitched.get_stepids(), [0, 5, 10, 15, 20])
    np.testing.assert_allclose(
        stitched.get_array('conserved_energy_eV'), [-10.0, -10.0, -10.1, -10.1, -10.0], atol=1e-12
    )
    assert stitched.base.attributes.get('segment_frames') == [3, 2]

    # A segment without its start frame continues the time axis, but its conserved energy cannot be joined.
    result, node = stitch_trajectories.run_get_node(segment_00=first, segment_01=second, segment_02=third)
    stitched = result['trajectory']
    np.testing.assert_allclose(stitched.get_times(), [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06], atol=1e-12)
    np.testing.assert_allclose(stitched.get_stepids(), [0, 5, 10, 15, 20, 25, 30])
    assert 'conserved_energy_eV' not in stitched.get_arraynames()
    assert stitched.base.attributes.get('segment_frames') == [3, 2, 2]
    uneven = _trajectory([0.0, 0.02, 0.04], [0.0, 0.0, 0.0])
    _, refused = stitch_trajectories.run_get_node(segment_00=first, segment_01=uneven)
    assert refused.exit_status == 300
    assert 'one frame interval' in refused.exit_message


# Handlers the aiida-quantumespresso way: a fake failed job, the handler called, the next inputs checked. --------------


@pytest.fixture
def segment_process(aiida_profile, python_code, generate_structure):
    """An ``AseMdSegmentWorkChain`` set up for 100 steps of 2 fs, frames every 10 steps, not yet run."""
    from aiida.engine.utils import instantiate_process
    from aiida.manage.manager import get_manager

    inputs = {
        'structure': generate_structure('cu3au'),
        'parameters': orm.Dict({'temperature_K': 600.0, 'timestep_fs': 2.0, 'steps': 100, 'write_interval': 10}),
        'ase': {'code': python_code, 'model': get_model_node('emt')},
    }
    process = instantiate_process(get_manager().get_runner(), AseMdSegmentWorkChain, **inputs)
    process.setup()
    return process


def _failed_job(exit_status: int, frames: int | None, python_code):
    """A finished ``AseCalculation`` node with ``exit_status`` and, when ``frames``, a trajectory with that many."""
    from aiida.common.links import LinkType
    from aiida.engine import ProcessState

    from aiida_superionic.common.trajectory import build_trajectory

    node = orm.CalcJobNode(computer=python_code.computer, process_type='aiida.calculations:superionic.ase')
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(exit_status)
    node.store()
    if frames:
        steps = np.arange(frames) * 10
        trajectory = build_trajectory(
            ['Au', 'Cu'],
            np.random.default_rng(0).uniform(0, 3.75, (frames, 2, 3)),
            np.broadcast_to(np.eye(3) * 3.75, (frames, 3, 3)),
            steps * 0.002,
            steps,
            velocities=np.full((frames, 2, 3), 0.5) + np.arange(frames)[:, None, None],
        )
        trajectory.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='trajectory')
        trajectory.store()
    return node


def test_wall_time_handler_continues_from_the_last_frame_for_the_remaining_steps(segment_process, python_code):
    job = _failed_job(400, frames=5, python_code=python_code)  # stopped at step 40 of 100
    report = segment_process.handle_stopped_early(job)
    assert report.do_break
    assert report.exit_code.status == 0
    parameters = segment_process.ctx.inputs['parameters'].get_dict()
    assert parameters['steps'] == 60
    assert parameters['equilibration_steps'] == 0
    np.testing.assert_allclose(segment_process.ctx.inputs['velocities'].get_array('velocities'), np.full((2, 3), 4.5))
    np.testing.assert_allclose(
        segment_process.ctx.inputs['structure'].get_ase().positions, job.outputs.trajectory.get_positions()[-1]
    )
    assert segment_process.ctx.pieces == [job.outputs.trajectory]


def test_wall_time_handler_gives_up_after_two_jobs_without_a_frame(segment_process, python_code):
    assert (
        segment_process.handle_stopped_early(_failed_job(400, frames=None, python_code=python_code)).exit_code.status
        == 0
    )
    report = segment_process.handle_stopped_early(_failed_job(310, frames=1, python_code=python_code))
    assert report.exit_code.status == AseMdSegmentWorkChain.exit_codes.ERROR_NO_PROGRESS.status


def test_crash_handler_retries_once(segment_process, python_code):
    first = segment_process.handle_engine_crashed(_failed_job(340, frames=3, python_code=python_code))
    assert first.exit_code.status == 0
    assert segment_process.ctx.inputs['parameters']['steps'] == 80
    second = segment_process.handle_engine_crashed(_failed_job(340, frames=None, python_code=python_code))
    assert second.exit_code.status == AseMdSegmentWorkChain.exit_codes.ERROR_ENGINE_CRASHED.status


def test_unstable_handler_halves_the_time_step_and_keeps_the_frame_interval(segment_process, python_code):
    report = segment_process.handle_unstable(_failed_job(350, frames=3, python_code=python_code))
    assert report.exit_code.status == 0
    parameters = segment_process.ctx.inputs['parameters'].get_dict()
    assert (parameters['timestep_fs'], parameters['write_interval']) == (1.0, 20)
    assert parameters['steps'] == 160  # the 160 fs that remain, in 1 fs steps
    again = segment_process.handle_unstable(_failed_job(350, frames=None, python_code=python_code))
    assert again.exit_code.status == AseMdSegmentWorkChain.exit_codes.ERROR_MD_UNSTABLE.status


def test_an_excepted_segment_is_launched_again_once(aiida_profile, python_code, generate_structure):
    """An excepted segment (its worker stopped mid-step, say) runs again as it was; a second exception ends the run."""
    from aiida.engine.utils import instantiate_process
    from aiida.manage.manager import get_manager
    from plumpy.process_states import ProcessState

    process = instantiate_process(get_manager().get_runner(), MdWorkChain, **_builder(python_code, generate_structure))
    process.setup()

    def excepted_segment():
        node = orm.WorkChainNode(process_type='aiida.workflows:superionic.ase.md_segment')
        node.set_process_state(ProcessState.EXCEPTED)
        node.set_exception('Traceback (most recent call last):\naiormq.exceptions.ChannelInvalidStateError\n')
        return node.store()

    process.ctx.segment = excepted_segment()
    assert process.inspect_segment() is None
    assert process.ctx.retry_segment
    assert not process.should_analyse()  # nothing new to analyse
    assert process.should_run_segment()
    assert process._segment_parameters()['equilibration_steps'] == BASE['equilibration_steps']  # the same segment
    reports = [log.message for log in orm.Log.collection.get_logs_for(process.node)]
    assert any(
        message.endswith('(aiormq.exceptions.ChannelInvalidStateError): launching it again') for message in reports
    )

    process.ctx.segment = excepted_segment()
    exit_code = process.inspect_segment()
    assert exit_code.status == MdWorkChain.exit_codes.ERROR_MD_FAILED.status
    assert not process.ctx.retry_segment


def test_an_excepted_job_is_run_again_once_from_the_same_start(segment_process, python_code):
    """A job excepted by a daemon stop (`CommunicatorClosed`) is run again as it was; a second exception ends it."""
    from aiida.engine import ProcessState

    def excepted_job():
        node = orm.CalcJobNode(computer=python_code.computer, process_type='aiida.calculations:superionic.ase')
        node.set_process_state(ProcessState.EXCEPTED)
        node.set_exception('Traceback (most recent call last):\nkiwipy.exceptions.CommunicatorClosed')
        return node.store()

    before = segment_process.ctx.inputs
    segment_process.ctx.children = [excepted_job()]
    segment_process.ctx.iteration = 1
    assert segment_process.inspect_process() is None
    assert segment_process.ctx.inputs is before  # the same start, the same steps
    segment_process.ctx.children.append(excepted_job())
    segment_process.ctx.iteration = 2
    exit_code = segment_process.inspect_process()
    assert exit_code.status == AseMdSegmentWorkChain.exit_codes.ERROR_SUB_PROCESS_EXCEPTED.status
