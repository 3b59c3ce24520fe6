"""A batch of ``MdWorkChain`` on a daemon, with faults injected mid-batch, then checked in the provenance graph.

Run by ``tests/test_scale.py`` in a process of its own, with ``AIIDA_PATH`` set to a scratch folder
(its own AiiDA configuration, never the user's). It:

1. creates a profile in that configuration: PostgreSQL + RabbitMQ (``--backend psql``, in a database
   and a virtual host the caller made) or SQLite + ZeroMQ (``--backend sqlite``, the embedded default);
2. makes the ``localhost`` computer (work folder in the scratch folder) and the Python code of the
   ASE engine; the code's prepend text appends a line to ``_job_starts.txt`` each time a job starts,
   so a job the scheduler ran twice shows in its folder;
3. starts the daemon with ``--workers`` workers and submits materials × temperatures ``MdWorkChain``
   (Lennard-Jones, two MD segments each: the second continues the first);
4. injects the faults: when ``--stop-at`` of the MD jobs are done it stops the daemon (``verdi daemon
   stop``) and starts it again; when ``--kill-at`` are done it SIGKILLs one worker (circus starts another);
5. waits for every workchain while the batch makes progress: it is *stuck* when nothing in the database has
   changed for ``--stall`` seconds, and *slow* when it still progresses at the cap of ``--deadline`` seconds
   after the first submission (both are problems, named apart);
6. checks the provenance graph and writes a JSON report (``--report``): throughput, the faults, the
   exit statuses, the problems (lost, excepted, stuck, duplicated), the calcfunctions that were
   interrupted and run again, and each workchain's D (the test compares back-ends with it).

What counts as run twice:
- an MD segment: an ``MdWorkChain`` with two ``segment_NN`` call links of the same label;
- a CalcJob: two finished ``AseCalculation`` in one segment, two calculations anywhere with the same
  structure, velocities and parameters, or a finished job whose folder says the job started twice.

A calcfunction interrupted mid-execution (its worker stopped or killed inside a workchain step) is run
again when the step runs again from the last checkpoint: it shows as a calcfunction node left in the
``running`` (or ``created``) state beside a finished one with the same caller and call link label.
That is expected and reported; one without a finished sibling is a problem.

Run by hand (SQLite, no services): ``AIIDA_PATH=$(mktemp -d) python tests/scale_batch.py --backend sqlite``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import traceback

import numpy as np

#: Exit statuses of an ``MdWorkChain`` that are verdicts on D (flagged, no hops), not failures.
VERDICT_EXIT_STATUSES = {0, 412, 413, 417}

#: Two 100-step segments; guards wide open: Lennard-Jones on ionic cells is a load, not physics.
MD_OVERRIDES = {
    'steps': 200,
    'segment_steps': 100,
    'max_steps': 200,
    'equilibration_steps': 20,
    'write_interval': 5,
    'timestep': 2.0,
    'max_energy_drift': 1.0e4,
    'max_lindemann_ratio': 100.0,
}

#: Marker the code's prepend text writes each time a job starts in its folder.
JOB_STARTS_FILE = '_job_starts.txt'

ASE_CALCULATION = 'aiida.calculations:superionic.ase'
MD_WORKCHAIN = 'aiida.workflows:superionic.md'
SEGMENT_WORKCHAIN = 'aiida.workflows:superionic.ase.md_segment'


def materials() -> list[tuple[str, object]]:
    """Twenty candidate electrolytes of known structure types (label, ``ase.Atoms`` with one mobile-ion vacancy).

    Lattice constants are the experimental ones to 0.01 Å. Cells are conventional (7–11 atoms once the
    vacancy is made): small, because the batch is about the daemon, not the physics.
    """
    from ase import Atoms
    from ase.build import bulk

    from aiida_superionic.descriptors.diffusion import select_mobile_species

    specs = [  # label, the formula ase.build.bulk takes (first element on the first site), structure, a (Å)
        ('LiF', 'LiF', 'rocksalt', 4.03),
        ('LiCl', 'LiCl', 'rocksalt', 5.13),
        ('LiBr', 'LiBr', 'rocksalt', 5.50),
        ('LiI', 'LiI', 'rocksalt', 6.00),
        ('NaF', 'NaF', 'rocksalt', 4.63),
        ('NaCl', 'NaCl', 'rocksalt', 5.64),
        ('NaBr', 'NaBr', 'rocksalt', 5.97),
        ('NaI', 'NaI', 'rocksalt', 6.47),
        ('AgCl', 'AgCl', 'rocksalt', 5.55),
        ('AgBr', 'AgBr', 'rocksalt', 5.77),
        ('CuCl', 'CuCl', 'zincblende', 5.41),
        ('CuBr', 'CuBr', 'zincblende', 5.69),
        ('CuI', 'CuI', 'zincblende', 6.05),
        ('AgI', 'AgI', 'zincblende', 6.50),
        ('Li2O', 'OLi2', 'fluorite', 4.61),  # antifluorite: the anion on the Ca site
        ('Li2S', 'SLi2', 'fluorite', 5.71),
        ('Na2O', 'ONa2', 'fluorite', 5.55),
        ('Na2S', 'SNa2', 'fluorite', 6.54),
        ('CaF2', 'CaF2', 'fluorite', 5.46),
    ]
    cells = [(label, bulk(name, kind, a=a, cubic=True)) for label, name, kind, a in specs]
    a, c = 3.648, 3.875
    cells.append(
        (
            'Li3N',
            Atoms(
                'NLi3',
                scaled_positions=[[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0]],
                cell=[[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]],
                pbc=True,
            ).repeat((2, 2, 1)),
        )
    )
    batch = []
    for name, atoms in cells:
        mobile = select_mobile_species(sorted(set(atoms.get_chemical_symbols())))
        del atoms[next(atom.index for atom in atoms if atom.symbol == mobile)]
        batch.append((name, atoms))
    return batch


def lennard_jones_for(atoms) -> dict:
    """Lennard-Jones parameters with the potential's minimum at the cell's nearest-neighbour distance."""
    from ase.neighborlist import neighbor_list

    distances = neighbor_list('d', atoms, 4.0)
    nearest = float(distances.min())
    return {'sigma': round(nearest / 2 ** (1 / 6), 4), 'epsilon': 0.05, 'rc': round(2.5 * nearest, 4), 'smooth': True}


def log(message: str) -> None:
    print(f'[scale {time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


# Profile, computer, code ---------------------------------------------------------------------------------------------


def create_profile(args) -> str:
    """Create the batch's profile in this process's configuration (``AIIDA_PATH``) and load it."""
    from aiida import load_profile
    from aiida.manage.configuration import create_profile as create
    from aiida.manage.configuration import get_config
    from aiida.plugins import BrokerFactory

    scratch = pathlib.Path(args.scratch)
    config = get_config(create=True)
    if args.backend == 'psql':
        storage_backend = 'core.psql_dos'
        storage_config = {
            'database_engine': 'postgresql_psycopg',
            'database_hostname': '127.0.0.1',
            'database_port': 5432,
            'database_name': args.database,
            'database_username': args.database,
            'database_password': args.database_password,
            'repository_uri': (scratch / 'repository').as_uri(),
        }
        broker_backend = 'core.rabbitmq'
        broker_config = {
            'broker_protocol': 'amqp',
            'broker_username': 'guest',
            'broker_password': 'guest',
            'broker_host': '127.0.0.1',
            'broker_port': 5672,
            'broker_virtual_host': args.virtual_host,
        }
    else:
        storage_backend = 'core.sqlite_dos'
        storage_config = {'filepath': str(scratch / 'storage')}
        broker_backend = 'core.zeromq'
        broker_config = BrokerFactory(broker_backend).get_default_config()
    create(
        config,
        name=args.profile,
        email='scale@aiida-superionic.test',
        first_name='Scale',
        last_name='Batch',
        institution='aiida-superionic',
        storage_backend=storage_backend,
        storage_config=storage_config,
        broker_backend=broker_backend,
        broker_config=broker_config,
    )
    config.set_default_profile(args.profile, overwrite=True)
    # 1 s as `verdi presto` sets it; 60 s by default would leave every step waiting a minute.
    config.set_option('runner.poll.interval', 1, scope=args.profile)
    # aiida-core warns about RabbitMQ >= 3.8.15: its 30 min consumer timeout can drop a task held longer
    # than that. The batch takes minutes; a production broker needs `consumer_timeout` raised (docs).
    config.set_option('warnings.rabbitmq_version', False, scope=args.profile)
    config.store()
    profile = load_profile(args.profile, allow_switch=True)
    return profile.uuid


def create_code(scratch: pathlib.Path):
    """The ``localhost`` computer (work folder in ``scratch``) and the ASE engine's code, marking job starts."""
    from aiida import orm

    computer = orm.Computer(
        label='localhost',
        hostname='localhost',
        transport_type='core.local',
        scheduler_type='core.direct',
        workdir=str(scratch / 'work'),
    ).store()
    computer.set_minimum_job_poll_interval(0.0)
    computer.configure()
    return orm.InstalledCode(
        label='superionic-python',
        computer=computer,
        filepath_executable=sys.executable,
        default_calc_job_plugin='superionic.ase',
        prepend_text=f'echo "$$ $(date +%s.%N)" >> {JOB_STARTS_FILE}',
    ).store()


def build_batch(code, count: int, temperatures: list[float]) -> list[tuple[str, object]]:
    """``(key, builder)`` of every material × temperature, keys such as ``Li2O-300K`` (one Li vacancy in the cell)."""
    from aiida import orm

    from aiida_superionic.engines.ase import get_model_node
    from aiida_superionic.workflows.md import MdWorkChain

    batch = []
    for name, atoms in materials()[:count]:
        structure = orm.StructureData(ase=atoms)
        model = get_model_node('lj', **lennard_jones_for(atoms))
        for temperature in temperatures:
            builder = MdWorkChain.get_builder_from_protocol(
                code=code,
                structure=structure,
                temperature=temperature,
                protocol='fast',
                overrides=MD_OVERRIDES,
                model=model,
                options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 900},
            )
            builder.metadata.label = f'{name}-{temperature:g}K'
            batch.append((builder.metadata.label, builder))
    return batch


# Watching and faults -------------------------------------------------------------------------------------------------


def _states(pks: list[int]) -> dict[int, tuple[str, int | None]]:
    from aiida import orm

    query = orm.QueryBuilder().append(
        orm.WorkflowNode,
        filters={'id': {'in': pks}},
        project=['id', 'attributes.process_state', 'attributes.exit_status'],
    )
    return {pk: (state or 'created', status) for pk, state, status in query.all()}


def _finished_jobs() -> int:
    from aiida import orm

    query = orm.QueryBuilder().append(
        orm.CalcJobNode,
        filters={'process_type': ASE_CALCULATION, 'attributes.process_state': 'finished'},
    )
    return query.count()


def _worker_pids(client) -> list[int]:
    info = client.get_worker_info().get('info', {})
    return sorted(int(pid) for pid in info)


class Batch:
    """The submitted workchains, the clock and the record of what happened."""

    def __init__(self, pks: dict[str, int], jobs_expected: int, started: float):
        self.pks = pks
        self.jobs_expected = jobs_expected
        self.started = started
        self.faults: list[dict] = []
        self.last_change: tuple = ()
        self.last_change_at = started
        self.stalled = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress(self) -> tuple[float, int]:
        """Fraction of MD jobs finished and the number of workchains not yet terminated."""
        states = _states(list(self.pks.values()))
        running = sum(state not in ('finished', 'excepted', 'killed') for state, _ in states.values())
        return _finished_jobs() / self.jobs_expected, running

    def record(self, event: str, **detail) -> None:
        fraction, running = self.progress()
        entry = {
            'event': event,
            't_s': round(self.elapsed(), 1),
            'jobs_done_fraction': round(fraction, 3),
            'workchains_running': running,
            **detail,
        }
        self.faults.append(entry)
        log(f'{event}: {detail} at {100 * fraction:.0f} % of the MD jobs, {running} workchains not finished')

    def stalled_for(self) -> float:
        """Seconds since anything of the batch last changed in the database (a node made, a state or checkpoint)."""
        from aiida import orm

        query = orm.QueryBuilder().append(orm.ProcessNode, project=['mtime'])
        latest = query.order_by({orm.ProcessNode: {'mtime': 'desc'}}).first(flat=True)
        change = (orm.QueryBuilder().append(orm.Node).count(), latest)
        if change != self.last_change:
            self.last_change, self.last_change_at = change, time.monotonic()
        return time.monotonic() - self.last_change_at


def wait_for(batch: Batch, condition, deadline: float, stall: float, poll: float = 1.0) -> bool:
    """Wait until ``condition(fraction, running)`` holds, the batch makes no progress for ``stall`` seconds (it is
    stuck: ``batch.stalled``) or the cap of ``deadline`` seconds passes while it still progresses (it is slow)."""
    last_report = 0.0
    while batch.elapsed() < deadline:
        fraction, running = batch.progress()
        if condition(fraction, running):
            return True
        if batch.stalled_for() > stall:
            batch.stalled = True
            log(f'no progress for {stall:.0f} s: {running} workchains stuck')
            return False
        if batch.elapsed() - last_report > 30:
            log(f'{100 * fraction:.0f} % of the MD jobs done, {running} workchains not finished')
            last_report = batch.elapsed()
        time.sleep(poll)
    return False


def stop_daemon(client, timeout: float = 120.0) -> None:
    """``verdi daemon stop``: the workers finish their current step and go; wait until circus has gone too."""
    if not client.is_daemon_running:
        return
    client.stop_daemon(wait=True, timeout=timeout)  # the default 2 s is shorter than a worker's shutdown
    deadline = time.monotonic() + timeout
    while client.is_daemon_running and time.monotonic() < deadline:
        time.sleep(0.2)


def stop_and_start_daemon(client, batch: Batch, workers: int) -> None:
    """``verdi daemon stop`` mid-batch (the workers finish their current step, then go), then start it again."""
    pids = _worker_pids(client)
    batch.record('daemon stopped', workers_before=pids)
    asked = time.monotonic()
    stop_daemon(client)
    down = time.monotonic()
    time.sleep(3)
    client.start_daemon(number_workers=workers)
    batch.record(
        'daemon started again',
        workers_after=_worker_pids(client),
        stopping_s=round(down - asked, 1),
        down_s=round(time.monotonic() - down, 1),
    )


def repair_lost_tasks(client, batch: Batch, workers: int, profile: str) -> None:
    """What a user does when processes wait for children that never start: ``verdi process repair``.

    A worker SIGKILLed between storing a process it submitted and sending that process's task to the broker leaves
    the process ``Created`` with no task (aiida-core stores and sends in two steps): nothing will ever run it. The
    repair needs the daemon stopped; it sends a task for every active process that has none.
    """
    from aiida.manage import get_manager

    stop_daemon(client)
    # On PostgreSQL `verdi process repair --force` terminates every connection of the profile that no daemon worker
    # holds, this process's own among them (its next query then failed with AdminShutdown): close it first; the next
    # query opens a new one.
    get_manager().reset_profile_storage()
    verdi = pathlib.Path(sys.executable).parent / 'verdi'
    repair = subprocess.run(
        [str(verdi), '-p', profile, 'process', 'repair', '--force'],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    zombies = [line.rsplit(':', 1)[1].strip() for line in repair.stdout.splitlines() if 'without process task' in line]
    client.start_daemon(number_workers=workers)
    batch.stalled = False
    batch.last_change_at = time.monotonic()  # the stall clock starts again with the repaired daemon
    batch.record('process repair', exit_status=repair.returncode, revived=zombies[0] if zombies else 'none')


def kill_one_worker(client, batch: Batch, workers: int, deadline: float) -> None:
    """SIGKILL a worker: no shutdown, no checkpoint; its processes go back to the broker's queue."""
    victim = _worker_pids(client)[0]
    batch.record('worker SIGKILLed', pid=victim)
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    while batch.elapsed() < deadline:  # circus starts a new worker in its place
        pids = [pid for pid in _worker_pids(client) if pid != victim]
        if len(pids) == workers:
            batch.record('worker replaced', workers_after=pids, after_s=round(time.monotonic() - killed, 1))
            return
        time.sleep(0.5)


def restart_excepted_runs(batch: Batch) -> dict[str, int]:
    """Continue each workchain a fault made except, as a user would: ``MdWorkChain.get_builder_restart`` reuses
    its finished segments. ``batch.pks`` then holds the restarts; return ``{key: pk of the excepted run}``."""
    from aiida import orm
    from aiida.engine import submit

    from aiida_superionic.workflows.md import MdWorkChain

    restarted = {}
    for key, pk in list(batch.pks.items()):
        node = orm.load_node(pk)
        if node.is_excepted:
            batch.pks[key] = submit(MdWorkChain.get_builder_restart(node)).pk
            restarted[key] = pk
            batch.record('excepted run restarted', key=key, excepted=pk, restart=batch.pks[key])
    return restarted


# Checks in the provenance graph --------------------------------------------------------------------------------------


def _called(node, link_type) -> list:
    return [(link.link_label, link.node) for link in node.base.links.get_outgoing(link_type=link_type).all()]


def called_processes(pks) -> list:
    """Every process the workchains ``pks`` called, at any depth (aiida-core's ``called_descendants``)."""
    from aiida import orm

    found = {}
    for pk in pks:
        found.update((node.pk, node) for node in orm.load_node(pk).called_descendants)
    return list(found.values())


def _state(node) -> str:
    return node.process_state.value if node.process_state else 'created'


def _call_label(node) -> str | None:
    from aiida.common.links import LinkType

    links = node.base.links.get_incoming(link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK)).all()
    return links[0].link_label if links else None


def _done_again(node) -> list[int]:
    """Finished siblings of ``node``: called by the same caller with the same call link label."""
    from aiida.common.links import LinkType

    if node.caller is None:
        return []
    label = _call_label(node)
    return [
        other.pk
        for link_label, other in _called(node.caller, (LinkType.CALL_CALC, LinkType.CALL_WORK))
        if link_label == label and other.pk != node.pk and other.is_finished_ok
    ]


def check_provenance(
    pks: dict[str, int],
    restarted: dict[str, int] | None = None,
    segments_per_run: int = 2,
    unfinished_because: str = 'at the deadline',
) -> dict:
    """Every check of the module docstring on the batch's workchains ``{key: pk}``; ``problems`` lists what failed.

    ``restarted`` maps keys to runs that excepted and were continued by the run in ``pks``: the segments
    of both count together (each once), and the exception is reported as recovered. ``unfinished_because`` says
    why the wait for a workchain not terminated ended: it was stuck (no progress), or the batch was slow (the cap).
    """
    from aiida import orm
    from aiida.common.links import LinkType

    restarted = restarted or {}
    problems: list[str] = []
    recovered: list[str] = []
    exit_statuses: collections.Counter = collections.Counter()
    results = {}
    expected_segments = [f'segment_{index:02d}' for index in range(segments_per_run)]
    for key, pk in pks.items():
        node = orm.load_node(pk)
        state = _state(node)
        if state == 'created':
            problems.append(f'lost: {key} <{pk}> never started')
            continue
        if state in ('running', 'waiting'):
            problems.append(f'{key} <{pk}> still {state}: {unfinished_because}')
            continue
        if state in ('excepted', 'killed'):
            problems.append(f'{state}: {key} <{pk}>: {node.exception or node.process_status}')
            continue
        exit_statuses[node.exit_status] += 1
        if node.exit_status not in VERDICT_EXIT_STATUSES:
            problems.append(f'failed: {key} <{pk}> exit {node.exit_status}: {node.exit_message}')
        if 'descriptors' in node.outputs:
            results[key] = node.outputs.descriptors.get('diffusion_coefficient_cm2_s')
        runs = [orm.load_node(restarted[key]), node] if key in restarted else [node]
        if key in restarted:
            recovered.append(
                f'{key} <{runs[0].pk}> excepted ({(runs[0].exception or "").strip().splitlines()[-1:]}) '
                f'and was continued by <{pk}> from its finished segments'
            )
        finished_segments = collections.defaultdict(list)
        for run in runs:
            for label, child in _called(run, LinkType.CALL_WORK):
                if child.is_finished_ok:
                    finished_segments[label].append(child.pk)
        for label, children in finished_segments.items():
            if len(children) > 1:
                problems.append(f'segment run twice: {key} <{pk}> finished {label} as {children}')
        if sorted(finished_segments) != expected_segments:
            problems.append(f'{key} <{pk}> finished segments {sorted(finished_segments)}, not {expected_segments}')

    processes = called_processes([*pks.values(), *restarted.values()])
    # CalcJobs: one finished per segment, no two with the same inputs, each job started once.
    jobs = [node for node in processes if isinstance(node, orm.CalcJobNode) and node.process_type == ASE_CALCULATION]
    signatures = collections.defaultdict(list)
    per_segment = collections.Counter()
    for job in jobs:
        if _state(job) == 'created':  # never ran (below)
            continue
        velocities = job.inputs.velocities.uuid if 'velocities' in job.inputs else None
        parameters = json.dumps(job.inputs.parameters.get_dict(), sort_keys=True)
        signatures[(job.inputs.structure.uuid, velocities, parameters)].append(job.pk)
        if not job.is_finished_ok:
            continue
        per_segment[job.caller.pk] += 1
        if 'remote_folder' not in job.outputs:
            # Seen once after a worker was killed: the job ran and was parsed, but the node lacks the output.
            recovered.append(f'CalcJob <{job.pk}> finished without its remote_folder output (aiida-core, a fault)')
        # The working directory the node records at upload, whether or not remote_folder was linked.
        starts = pathlib.Path(job.get_remote_workdir() or '') / JOB_STARTS_FILE
        count = len(starts.read_text().splitlines()) if starts.is_file() else 0
        if count != 1:
            problems.append(f'job of CalcJob <{job.pk}> started {count} times ({starts})')
    for same_inputs in signatures.values():
        if len(same_inputs) > 1:
            problems.append(f'CalcJob run twice with the same inputs: {sorted(same_inputs)}')
    for segment, count in per_segment.items():
        if count > 1:
            problems.append(f'segment <{segment}> has {count} finished CalcJobs')

    # What a fault left unfinished inside the workchains.
    exceptions, interrupted = {}, []
    for node in processes:
        state = _state(node)
        if state in ('finished', 'killed'):
            continue
        if state == 'excepted':
            exceptions[node.pk] = f'{node.process_label}: {node.exception}'
            last = (node.exception or '').strip().splitlines()[-1:]
            again = _done_again(node)
            if again:  # the caller launched it again (MdWorkChain does so for a segment, once)
                recovered.append(f'{node.process_label} <{node.pk}> excepted ({last}) and was run again as {again}')
            else:
                problems.append(f'excepted: {node.process_label} <{node.pk}>: {last}')
            continue
        if isinstance(node, orm.CalcFunctionNode):
            # Interrupted mid-execution: run again when its caller's step ran again from the last checkpoint.
            entry = {
                'pk': node.pk,
                'function': node.process_label,
                'state': state,
                'caller': node.caller.pk,
                'call_link_label': _call_label(node),
                'rerun_as': _done_again(node),
            }
            interrupted.append(entry)
            if not entry['rerun_as']:
                problems.append(f'calcfunction {node.process_label} <{node.pk}> interrupted and not run again: {entry}')
            continue
        if state == 'created' and node.caller is not None and node.caller.is_excepted:
            recovered.append(f'{node.process_label} <{node.pk}> was left created by its excepted caller: it never ran')
            continue
        problems.append(f'{node.process_label} <{node.pk}> left {state}')
    return {
        'problems': problems,
        'recovered': recovered,
        'exit_statuses': {str(status): count for status, count in sorted(exit_statuses.items())},
        'calcjobs': len([job for job in jobs if _state(job) != 'created']),
        'interrupted_calcfunctions': interrupted,
        'exceptions': exceptions,
        'diffusion_coefficients': results,
    }


def summary_lines(report: dict) -> list[str]:
    """What the CI log shows of one batch: throughput, the faults and what became of the workchains."""
    faults = {fault['event']: fault for fault in report['faults']}
    lines = [
        f'{report["backend"]}, {report["workers"]} worker(s): {report["workchains"]} MdWorkChain, '
        f'{report["calcjobs"]} CalcJobs in {report["wall_s"]:.0f} s: {report["throughput_per_min"]:.1f} workchains/min'
    ]
    described = []
    if 'daemon stopped' in faults:
        stop, start = faults['daemon stopped'], faults.get('daemon started again', {})
        described.append(
            f'daemon stopped at {100 * stop["jobs_done_fraction"]:.0f} % of the MD jobs '
            f'({stop["workchains_running"]} workchains running; stopping took {start.get("stopping_s", "?")} s) '
            'and started again'
        )
    if 'worker SIGKILLed' in faults:
        kill, replaced = faults['worker SIGKILLed'], faults.get('worker replaced', {})
        described.append(
            f'worker {kill["pid"]} SIGKILLed at {100 * kill["jobs_done_fraction"]:.0f} % '
            f'({kill["workchains_running"]} running), replaced after {replaced.get("after_s", "?")} s'
        )
    lines.append('  faults: ' + ('; '.join(described) or 'none'))
    statuses = ', '.join(f'exit {status}: {count}' for status, count in report['exit_statuses'].items())
    finished = sum(report['exit_statuses'].values())
    lines.append(
        f'  outcome: {finished}/{report["workchains"]} finished ({statuses}); problems: {len(report["problems"])}'
    )
    lines.extend(f'    {problem}' for problem in report['problems'][:20])
    recovered = report.get('recovered', [])
    lines.append(f'  recovered from faults: {len(recovered)}')
    lines.extend(f'    {entry}' for entry in recovered)
    reruns = report['interrupted_calcfunctions']
    lines.append(
        f'  calcfunctions interrupted and run again: {len(reruns)}'
        + ''.join(
            f'; {entry["function"]} <{entry["pk"]}> ({entry["state"]}) as {entry["rerun_as"]}' for entry in reruns
        )
    )
    return lines


# The run -------------------------------------------------------------------------------------------------------------


def run(args) -> dict:
    from aiida.engine import submit
    from aiida.engine.daemon.client import get_daemon_client

    scratch = pathlib.Path(args.scratch)
    profile_uuid = create_profile(args)
    report = {
        'backend': 'PostgreSQL + RabbitMQ' if args.backend == 'psql' else 'SQLite + ZeroMQ',
        'profile_uuid': profile_uuid,
        'workers': args.workers,
    }
    code = create_code(scratch)
    batch_inputs = build_batch(code, args.materials, args.temperatures)
    client = get_daemon_client(args.profile)
    client.start_daemon(number_workers=args.workers)
    log(f'daemon started with workers {_worker_pids(client)}; submitting {len(batch_inputs)} MdWorkChain')
    started = time.monotonic()
    pks = {key: submit(builder).pk for key, builder in batch_inputs}
    batch = Batch(pks, jobs_expected=2 * len(pks), started=started)
    try:
        waits = {'deadline': args.deadline, 'stall': args.stall}
        if args.stop_at and wait_for(batch, lambda fraction, _: fraction >= args.stop_at, **waits):
            stop_and_start_daemon(client, batch, args.workers)
        if args.kill_at and wait_for(batch, lambda fraction, _: fraction >= args.kill_at, **waits):
            kill_one_worker(client, batch, args.workers, args.deadline)
        finished = wait_for(batch, lambda _, running: running == 0, **waits)
        if batch.stalled:
            repair_lost_tasks(client, batch, args.workers, args.profile)
            finished = wait_for(batch, lambda _, running: running == 0, **waits)
        restarted = restart_excepted_runs(batch)
        if restarted:
            finished = wait_for(batch, lambda _, running: running == 0, **waits)
        wall = batch.elapsed()
        log(f'batch {"finished" if finished else "NOT finished"} after {wall:.0f} s')
    finally:
        stop_daemon(client)
    try:
        if batch.stalled:
            because = f'stuck: nothing in the batch changed for {args.stall:.0f} s'
        else:
            because = f'slow: the batch still progressed at the cap of {args.deadline:.0f} s'
        report.update(check_provenance(batch.pks, restarted, unfinished_because=because))
    except Exception:  # a graph the checks did not foresee is a finding too: report it, do not lose the run
        report.update({'problems': [f'the checks failed:\n{traceback.format_exc()}'], 'exit_statuses': {}})
        report.update({'calcjobs': 0, 'interrupted_calcfunctions': [], 'recovered': [], 'diffusion_coefficients': {}})
    for fault in batch.faults:
        if fault['event'] == 'process repair':
            report['recovered'].append(
                f'processes that never started (their task lost with a killed worker) revived by `verdi process '
                f'repair`: {fault["revived"]} (exit {fault["exit_status"]})'
            )
        if fault['event'] in ('daemon stopped', 'worker SIGKILLed') and fault['workchains_running'] == 0:
            report['problems'].append(f'the fault "{fault["event"]}" came after the batch had finished')
    for needed in (['daemon stopped'] if args.stop_at else []) + (['worker SIGKILLed'] if args.kill_at else []):
        if needed not in [fault['event'] for fault in batch.faults]:
            report['problems'].append(f'the fault "{needed}" was not injected before the wait ended')
    report.update(
        {
            'workchains': len(pks),
            'wall_s': round(wall, 1),
            'throughput_per_min': round(60.0 * len(pks) / wall, 2),
            'faults': batch.faults,
        }
    )
    if report['problems']:
        log_file = pathlib.Path(client.daemon_log_file)
        report['daemon_log_tail'] = log_file.read_text(errors='replace')[-6000:] if log_file.is_file() else ''
    return report


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--backend', choices=('psql', 'sqlite'), required=True)
    parser.add_argument(
        '--scratch', default=os.environ.get('AIIDA_PATH'), help='Folder of the run (default AIIDA_PATH).'
    )
    parser.add_argument('--profile', default='superionic-scale')
    parser.add_argument('--database', help='PostgreSQL database, also its role (psql).')
    parser.add_argument('--database-password', help='Password of the role (psql).')
    parser.add_argument('--virtual-host', default='', help="RabbitMQ virtual host (psql; '' the default one).")
    parser.add_argument('--materials', type=int, default=20)
    parser.add_argument('--temperatures', type=float, nargs='+', default=[300.0, 600.0])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument(
        '--stop-at', type=float, default=0.3, help='Stop and start the daemon at this fraction (0: no).'
    )
    parser.add_argument('--kill-at', type=float, default=0.6, help='SIGKILL a worker at this fraction (0: no).')
    parser.add_argument(
        '--deadline',
        type=float,
        default=600.0,
        help='Cap, in seconds after the first submission, of a batch that progresses.',
    )
    parser.add_argument(
        '--stall', type=float, default=180.0, help='Seconds without any change in the database after which it is stuck.'
    )
    parser.add_argument('--report', required=True, help='Where to write the JSON report.')
    args = parser.parse_args(argv)
    if not args.scratch:
        parser.error('give --scratch or set AIIDA_PATH')
    if args.backend == 'psql' and not (args.database and args.database_password):
        parser.error('the psql backend needs --database and --database-password')
    return args


def main(argv=None) -> int:
    args = parse_arguments(argv)

    def terminate(signum, _frame):  # the test's timeout: stop the daemon on the way out
        raise KeyboardInterrupt(f'signal {signum}')

    signal.signal(signal.SIGTERM, terminate)
    report = run(args)
    pathlib.Path(args.report).write_text(json.dumps(report, indent=1))
    for line in summary_lines(report):
        log(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
