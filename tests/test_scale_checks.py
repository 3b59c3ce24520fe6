"""The scale mode's checks find what faults could leave behind; its service handling says why it cannot go on.

These run in the ordinary suite (seconds): the batches themselves are in ``test_scale.py``.
A provenance graph is written by hand, clean and then with each defect a fault could cause, and
``scale_batch.check_provenance`` must name every one.
"""

from __future__ import annotations

import pytest
import scale_batch
import scale_services
from aiida import orm
from aiida.common.links import LinkType
from plumpy.process_states import ProcessState

# Nodes linked before they are stored, as the engine does, make SQLAlchemy warn when a query flushes the
# session meanwhile (an unstored node is not added to its user's or computer's relationship): harmless here.
pytestmark = pytest.mark.filterwarnings('ignore:Object of type <DbNode> not in session')


class Graph:
    """Writes process nodes and links as the engine would, for ``check_provenance`` to read."""

    def __init__(self, computer, folder):
        self.computer = computer
        self.folder = folder
        self.structure = orm.StructureData(cell=[[3, 0, 0], [0, 3, 0], [0, 0, 3]])
        self.structure.append_atom(position=(0, 0, 0), symbols='Li')
        self.structure.store()
        self.jobs = {}  # MdWorkChain pk -> the jobs of its segments, in order

    @staticmethod
    def _process(node, state, exit_status=0, caller=None, link_type=None, label=None):
        node.set_process_state(state)
        if state == ProcessState.FINISHED:
            node.set_exit_status(exit_status)
        if caller is not None:
            node.base.links.add_incoming(caller, link_type=link_type, link_label=label)
        return node.store()

    def md_run(self, state=ProcessState.FINISHED, exit_status=0):
        node = orm.WorkChainNode(process_type=scale_batch.MD_WORKCHAIN)
        return self._process(node, state, exit_status)

    def segment(self, md, label, state=ProcessState.FINISHED):
        node = orm.WorkChainNode(process_type=scale_batch.SEGMENT_WORKCHAIN)
        if state == ProcessState.EXCEPTED:
            node.set_exception('Traceback (most recent call last):\nkiwipy.exceptions.CommunicatorClosed\n')
        return self._process(node, state, caller=md, link_type=LinkType.CALL_WORK, label=label)

    def created_job(self, segment):
        """An ``AseCalculation`` its caller created and never launched."""
        node = orm.CalcJobNode(computer=self.computer, process_type=scale_batch.ASE_CALCULATION)
        node.base.links.add_incoming(self.structure, LinkType.INPUT_CALC, 'structure')
        return self._process(
            node, ProcessState.CREATED, caller=segment, link_type=LinkType.CALL_CALC, label='iteration_01'
        )

    def job(self, segment, steps, job_starts=1, remote_folder=True):
        """A finished ``AseCalculation`` of ``steps`` MD steps whose folder records ``job_starts`` starts."""
        node = orm.CalcJobNode(computer=self.computer, process_type=scale_batch.ASE_CALCULATION)
        node.base.links.add_incoming(self.structure, LinkType.INPUT_CALC, 'structure')
        node.base.links.add_incoming(orm.Dict({'steps': steps}).store(), LinkType.INPUT_CALC, 'parameters')
        node = self._process(
            node, ProcessState.FINISHED, caller=segment, link_type=LinkType.CALL_CALC, label='iteration_01'
        )
        workdir = self.folder / f'job-{node.pk}'
        workdir.mkdir()
        (workdir / scale_batch.JOB_STARTS_FILE).write_text(''.join(f'{n} 0.0\n' for n in range(job_starts)))
        node.set_remote_workdir(str(workdir))
        if remote_folder:
            remote = orm.RemoteData(computer=self.computer, remote_path=str(workdir))
            remote.base.links.add_incoming(node, LinkType.CREATE, 'remote_folder')
            remote.store()
        return node

    def calcfunction(self, caller, label, state):
        node = orm.CalcFunctionNode(process_type='aiida.calculations:superionic.stitch_trajectories')
        node.set_process_label('stitch_trajectories')
        return self._process(node, state, caller=caller, link_type=LinkType.CALL_CALC, label=label)

    def clean_run(self):
        """An MdWorkChain as a batch leaves it: two segments of one job each, the analysis done once."""
        md = self.md_run(exit_status=417)
        self.jobs[md.pk] = [
            self.job(self.segment(md, f'segment_{index:02d}'), steps=100 * (index + 1) + md.pk) for index in range(2)
        ]
        self.calcfunction(md, 'stitch_02', ProcessState.FINISHED)
        return md


@pytest.fixture
def graph(aiida_localhost, tmp_path):
    return Graph(aiida_localhost, tmp_path)


def test_a_clean_batch_has_no_problem(graph):
    runs = {'LiF-300K': graph.clean_run().pk, 'LiF-600K': graph.clean_run().pk}
    report = scale_batch.check_provenance(runs)
    assert report['problems'] == []
    assert report['exit_statuses'] == {'417': 2}
    assert report['calcjobs'] == 4
    assert report['interrupted_calcfunctions'] == []


def test_every_defect_a_fault_could_leave_is_named(graph):
    lost = graph.md_run(state=ProcessState.CREATED)
    stuck = graph.md_run(state=ProcessState.WAITING)
    excepted = graph.md_run(state=ProcessState.EXCEPTED)

    twice = graph.clean_run()  # segment_01 launched again, its job run again with the same inputs
    first_job = graph.jobs[twice.pk][1]
    graph.job(graph.segment(twice, 'segment_01'), steps=first_job.inputs.parameters['steps'])

    interrupted = graph.clean_run()  # stitch_02 interrupted (left running) and run again: expected
    left = graph.calcfunction(interrupted, 'stitch_02', ProcessState.RUNNING)
    orphaned = graph.clean_run()
    orphan = graph.calcfunction(orphaned, 'stitch_03', ProcessState.RUNNING)  # never run again: a problem

    crowded = graph.md_run()  # one segment only, with two finished jobs, one of which started twice
    segment = graph.segment(crowded, 'segment_00')
    started_twice = graph.job(segment, steps=7, job_starts=2)
    graph.job(segment, steps=8)

    runs = {
        'lost': lost.pk,
        'stuck': stuck.pk,
        'excepted': excepted.pk,
        'twice': twice.pk,
        'orphaned': orphaned.pk,
        'interrupted': interrupted.pk,
    }
    problems = '\n'.join(scale_batch.check_provenance(runs)['problems'])
    assert f'lost: lost <{lost.pk}> never started' in problems
    assert f'stuck <{stuck.pk}> still waiting: at the deadline' in problems
    assert f'excepted: excepted <{excepted.pk}>' in problems
    assert f'segment run twice: twice <{twice.pk}> finished segment_01' in problems
    assert f'CalcJob run twice with the same inputs: [{first_job.pk}, ' in problems
    assert f'calcfunction stitch_trajectories <{orphan.pk}> interrupted and not run again' in problems
    assert f'<{left.pk}>' not in problems  # interrupted and run again is not a problem...
    report = scale_batch.check_provenance({'interrupted': interrupted.pk})
    assert [entry['pk'] for entry in report['interrupted_calcfunctions']] == [left.pk]  # ...but it is reported
    assert report['interrupted_calcfunctions'][0]['rerun_as'] != []

    report = scale_batch.check_provenance({'crowded': crowded.pk})
    problems = '\n'.join(report['problems'])
    assert f'job of CalcJob <{started_twice.pk}> started 2 times' in problems
    assert f'segment <{segment.pk}> has 2 finished CalcJobs' in problems
    assert "finished segments ['segment_00'], not ['segment_00', 'segment_01']" in problems


def test_a_missing_service_is_named_with_the_reason(monkeypatch):
    """No server on the port, none installed and no way to install one: the mode skips saying so."""
    monkeypatch.setattr(scale_services, 'port_open', lambda port, **_: False)
    monkeypatch.setattr(scale_services.shutil, 'which', lambda name: None)
    with pytest.raises(
        scale_services.ServiceUnavailableError, match='postgresql is not installed and this machine has no apt-get'
    ):
        scale_services.ensure_postgresql()
    monkeypatch.setattr(scale_services.shutil, 'which', lambda name: f'/usr/bin/{name}' if name == 'apt-get' else None)
    monkeypatch.setattr(scale_services.os, 'geteuid', lambda: 1000)
    with pytest.raises(
        scale_services.ServiceUnavailableError, match='rabbitmq-server is not installed and installing it needs root'
    ):
        scale_services.ensure_rabbitmq()


def test_only_a_server_started_here_is_stopped(monkeypatch):
    ran = []
    monkeypatch.setattr(scale_services, '_run', lambda command, timeout=0: ran.append(command) or _Done())
    assert 'left running' in scale_services.Service('PostgreSQL', 5432).stop_if_started()
    assert ran == []
    started = scale_services.Service('RabbitMQ', 5672, started_here=True, stop_command=['rabbitmqctl', 'stop'])
    assert 'stopped' in started.stop_if_started()
    assert ran == [['rabbitmqctl', 'stop']]


class _Done:
    returncode = 0
    stderr = ''


def test_what_the_plugin_recovers_from_is_reported_not_failed(graph):
    """An excepted segment launched again by its MdWorkChain, the job it had created and never launched, and an
    excepted MdWorkChain continued by a restart from its finished segments: recovered, each segment once."""
    retried = graph.md_run(exit_status=417)
    broken = graph.segment(retried, 'segment_00', state=ProcessState.EXCEPTED)
    never_ran = graph.created_job(broken)
    for index in range(2):
        graph.job(graph.segment(retried, f'segment_{index:02d}'), steps=500 + index)

    excepted = graph.md_run(state=ProcessState.EXCEPTED)
    excepted.set_exception('Traceback (most recent call last):\nkiwipy.exceptions.CommunicatorClosed\n')
    graph.job(graph.segment(excepted, 'segment_00'), steps=600)
    restart = graph.md_run(exit_status=412)
    unlinked = graph.job(graph.segment(restart, 'segment_01'), steps=601, remote_folder=False)

    report = scale_batch.check_provenance({'retried': retried.pk, 'restarted': restart.pk}, {'restarted': excepted.pk})
    assert report['problems'] == []
    recovered = '\n'.join(report['recovered'])
    assert f'<{broken.pk}> excepted' in recovered
    assert f'<{never_ran.pk}> was left created by its excepted caller: it never ran' in recovered
    assert f'restarted <{excepted.pk}> excepted' in recovered
    assert f'CalcJob <{unlinked.pk}> finished without its remote_folder output' in recovered  # its folder still read
    assert report['calcjobs'] == 4  # the job that never ran is not counted

    # Continued by a restart that ran segment_00 again: a finished segment run twice.
    again = graph.md_run(exit_status=412)
    graph.job(graph.segment(again, 'segment_00'), steps=600)
    report = scale_batch.check_provenance({'restarted': again.pk}, {'restarted': excepted.pk})
    assert any(problem.startswith('segment run twice') for problem in report['problems'])
