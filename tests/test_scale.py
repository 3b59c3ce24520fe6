"""At scale and under faults: batches of ``MdWorkChain`` on the daemon, PostgreSQL + RabbitMQ and the embedded default.

The marked mode ``scale`` (``make scale``; ``make test`` and ``.ci/run`` run it with the rest) is
capped at ``SCALE_CAP_S``. Each test runs ``tests/scale_batch.py`` in a process of its own with a
scratch ``AIIDA_PATH``, so the run has its own configuration, profile and daemon; the harness
injects the faults and checks the provenance graph (its docstring says how). Here the tests make
and drop what lives on the servers (a database and a role, a RabbitMQ virtual host), stop the
servers they started, and check that the machine is as it was. The CI log shows each batch's
throughput and faults in the ``scale`` section of the summary.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scale_batch
import scale_services

pytestmark = [pytest.mark.scale, pytest.mark.slow]

#: The whole mode's budget, setup and clean-up included.
SCALE_CAP_S = 20 * 60
#: Caps (from the first submission) of a batch that still progresses: the PostgreSQL batch (about 250 s on a quiet
#: machine), then the smaller SQLite one (about 75 s quiet; 240–390 s beside two busy processes and other work, a
#: repair included). A batch in which nothing changes for STALL_S (no node, no state, no job poll) is stuck: the
#: harness then runs `verdi process repair`, as a user would, and waits again.
POSTGRESQL_DEADLINE_S = 600
SQLITE_DEADLINE_S = 480
STALL_S = 90
#: Busy processes running beside the SQLite batch: a loaded machine makes the batch slow, never stuck.
BUSY_NEIGHBOURS = 2
#: Set-up, checks and clean-up of one batch, at most (seen: 15–30 s).
BATCH_OVERHEAD_S = 60
#: Materials of each batch (× 2 temperatures): at least 20 on the scale path, fewer on the embedded default.
POSTGRESQL_MATERIALS = 20
SQLITE_MATERIALS = 6

HARNESS = pathlib.Path(scale_batch.__file__)


@pytest.fixture(scope='module')
def mode_clock():
    """Seconds left of the mode's cap."""
    started = time.monotonic()
    return lambda: SCALE_CAP_S - (time.monotonic() - started)


@pytest.fixture(scope='module')
def batch_reports():
    """Each back-end's report, for the comparison between them."""
    return {}


def _processes_of(scratch: pathlib.Path) -> list[str]:
    """Command lines of running processes whose environment or arguments name ``scratch`` (daemon, workers, jobs)."""
    found = []
    for process in pathlib.Path('/proc').glob('[0-9]*'):
        try:
            if str(scratch).encode() in (process / 'environ').read_bytes() + (process / 'cmdline').read_bytes():
                found.append((process / 'cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace'))
        except OSError:  # gone, or not ours to read
            continue
    return found


def _run_harness(scratch: pathlib.Path, arguments: list[str], deadline: float) -> dict:
    """Run the harness with ``AIIDA_PATH=scratch``; on overrun, SIGTERM it (it stops its daemon), then SIGKILL."""
    environment = {
        **os.environ,
        'AIIDA_PATH': str(scratch),
        # The daemon starts workers with the `verdi` of this environment.
        'PATH': f'{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}',
    }
    environment.pop('AIIDA_PROFILE', None)
    report_path = scratch / 'report.json'
    command = [sys.executable, str(HARNESS), '--scratch', str(scratch), '--report', str(report_path)]
    command += [*arguments, '--deadline', str(deadline), '--stall', str(STALL_S)]
    with subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True) as process:
        try:
            _, log = process.communicate(timeout=deadline + 150)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                _, log = process.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                _, log = process.communicate()
    if not report_path.is_file():
        pytest.fail(f'the harness wrote no report (exit {process.returncode}):\n{log[-5000:]}')
    sys.stderr.write(log)  # shown with the test's output when it fails
    return json.loads(report_path.read_text())


def _stop_leftover_daemon(scratch: pathlib.Path, profile: str) -> None:
    """A backstop: if the harness died without stopping its daemon, stop it here."""
    verdi = pathlib.Path(sys.executable).parent / 'verdi'
    subprocess.run(
        [str(verdi), '-p', profile, 'daemon', 'stop'],
        env={**os.environ, 'AIIDA_PATH': str(scratch)},
        capture_output=True,
        timeout=120,
        check=False,
    )


def _check_and_summarise(report: dict, summary: list[str], services: list[str] = ()) -> None:
    summary.extend(scale_batch.summary_lines(report))
    if services:
        summary.append(f'  services: {"; ".join(services)}')
    tracebacks = [f'{pk}: ' + '\n'.join(text.splitlines()[-25:]) for pk, text in report.get('exceptions', {}).items()]
    assert report['problems'] == [], '\n'.join(
        [*report['problems'], *tracebacks[:2], report.get('daemon_log_tail', '')]
    )
    assert sum(report['exit_statuses'].values()) == report['workchains']
    assert report['calcjobs'] == 2 * report['workchains']  # two segments each, one job per segment


def test_batch_on_postgresql_and_rabbitmq(tmp_path_factory, mode_clock, batch_reports, scale_summary):
    """20 materials × 2 temperatures on 2 workers, PostgreSQL and RabbitMQ; the daemon stopped, a worker killed."""
    services = []
    try:
        services.append(scale_services.ensure_postgresql())
        services.append(scale_services.ensure_rabbitmq())
    except scale_services.ServiceUnavailableError as exception:
        scale_summary.append(f'PostgreSQL + RabbitMQ: skipped: {exception}')
        scale_summary.extend(f'  {service.stop_if_started()}' for service in services)
        pytest.skip(f'scale mode on PostgreSQL + RabbitMQ skipped: {exception}')
    name = f'superionic_scale_{secrets.token_hex(4)}'
    scratch = tmp_path_factory.mktemp('scale-psql')
    database = virtual_host = None
    report = {}
    try:
        database = scale_services.ScratchDatabase(name).create()
        virtual_host = scale_services.ScratchVirtualHost(name.replace('_', '-')).create()
        report = _run_harness(
            scratch,
            [
                '--backend', 'psql',
                '--database', database.name,
                '--database-password', database.password,
                '--virtual-host', virtual_host.broker_name,
                '--materials', str(POSTGRESQL_MATERIALS),
                '--workers', '2',
            ],
            deadline=min(POSTGRESQL_DEADLINE_S, mode_clock() - SQLITE_DEADLINE_S - 2 * BATCH_OVERHEAD_S),
        )  # fmt: skip
    finally:
        _stop_leftover_daemon(scratch, 'superionic-scale')
        if database is not None:
            database.drop()
        if virtual_host is not None:
            virtual_host.delete(report.get('profile_uuid'))
        shutil.rmtree(scratch, ignore_errors=True)
        stopped = [service.stop_if_started() for service in services]
    # The machine as it was: no database, role or virtual host of the run, no process of it.
    assert not scale_services.port_open(5432) or not scale_services.ScratchDatabase.exists(name)
    assert not (virtual_host.created and virtual_host.exists())
    assert _processes_of(scratch) == []
    batch_reports['psql'] = report
    _check_and_summarise(report, scale_summary, services=stopped)
    assert report['workchains'] >= 40


@pytest.fixture
def busy_neighbours():
    """Processes that keep the cores busy while the test runs (a user's other work)."""
    spinners = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(BUSY_NEIGHBOURS)]
    yield len(spinners)
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


def test_batch_on_the_embedded_default(tmp_path_factory, mode_clock, batch_reports, scale_summary, busy_neighbours):
    """The same batch, smaller, on SQLite and the ZeroMQ broker with one worker, beside two busy processes; the same
    faults; the same D."""
    scratch = tmp_path_factory.mktemp('scale-sqlite')
    scale_summary.append(f'SQLite batch run beside {busy_neighbours} busy processes (a loaded machine)')
    try:
        report = _run_harness(
            scratch,
            ['--backend', 'sqlite', '--materials', str(SQLITE_MATERIALS), '--workers', '1'],
            deadline=min(SQLITE_DEADLINE_S, mode_clock() - BATCH_OVERHEAD_S),
        )
    finally:
        _stop_leftover_daemon(scratch, 'superionic-scale')
        shutil.rmtree(scratch, ignore_errors=True)
    assert _processes_of(scratch) == []
    _check_and_summarise(report, scale_summary)
    # Faults change nothing computed: the workchains both batches share give the same D on either back-end.
    reference = batch_reports.get('psql', {}).get('diffusion_coefficients', {})
    shared = sorted(set(reference) & set(report['diffusion_coefficients']))
    if reference:
        assert len(shared) == 2 * SQLITE_MATERIALS
        np.testing.assert_allclose(
            [report['diffusion_coefficients'][key] for key in shared], [reference[key] for key in shared], rtol=1e-9
        )
        scale_summary.append(f'  D of the {len(shared)} shared workchains equal on both back-ends (rtol 1e-9)')
