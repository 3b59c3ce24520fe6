"""A workchain run in this process (``verdi run``) that one Ctrl-C, or a killed process, never leaves half-way.

aiida-core's ``run`` kills the process from a ``signal.signal`` handler, which Python calls between any two
bytecodes: inside a database commit, it leaves the session unusable (``This session is in 'prepared' state``)
and the children, which it can only reach through a broker, ``Waiting`` for good. Killing the processes from the
event loop instead (``loop.add_signal_handler``) is not enough either: aiida runs calcfunctions and job
cancellations in greenback portals, so a step can be suspended half-way through its database work while the kill
writes. Here the signal only stops the event loop. Once it has returned, nothing else runs: the session's
uncommitted work is rolled back, the jobs of the tree are ended on their computer, and every unfinished process is
marked killed, as :func:`end_orphaned_tree` does for a run that died. The run needs no broker (the embedded
default's ZeroMQ broker runs only beside a daemon).

A ``verdi run`` killed with SIGKILL cannot do that. It leaves its processes ``Waiting``/``Running`` with nobody
to run them; :func:`end_orphaned_tree` (``aiida-superionic stop PK``) ends them, and their jobs, without a
daemon, after checking that the process that ran them is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import logging
import os
import signal
import socket
import sys
import time

from aiida import orm
from aiida.engine import ProcessState

#: Extra of a workchain run in a process: which process on which host runs it, so that ``stop`` never ends
#: work that something still runs.
RUNNER_EXTRA = 'superionic_runner'


class RunInterruptedError(SystemExit):
    """The run was interrupted by a signal: ``node`` and ``ended`` unfinished processes of its tree were killed.

    A ``SystemExit`` with the shell's status for SIGINT (130): a script that does not catch it ends with the one
    line :func:`run` printed, not a traceback.
    """

    def __init__(self, node: orm.ProcessNode, ended: int):
        super().__init__(130)
        self.node = node
        self.ended = ended


class StillRunningError(Exception):
    """A process of the tree is still run by a living process (a ``verdi run``, or the daemon)."""


def run(builder, continue_with: str | None = None) -> orm.ProcessNode:
    """Run ``builder`` in this process, without a daemon or a broker, and return its node.

    On the first SIGINT (Ctrl-C) or SIGTERM the run stops: the event loop is stopped at once, every scheduler job
    of the tree is ended, every unfinished process is marked killed (finished children stay as they are, for the
    restart builder), one line on the standard error says what was stopped and how to continue (``continue_with``,
    where ``{pk}`` is the workchain's pk; by default the restart builder), and :class:`RunInterruptedError` is
    raised.
    """
    from aiida.engine.utils import instantiate_process, loop_scope
    from aiida.manage import get_manager

    # A runner of its own, without a broker: the embedded default's ZeroMQ broker runs only beside a daemon, and
    # everything of this tree runs here anyway. It becomes the manager's runner, so the children run in it too.
    manager = get_manager()
    profile = manager.get_profile()
    runner = _signal_owning_runner_class()(
        poll_interval=0.0 if profile.is_test_profile else manager.get_option('runner.poll.interval'),
        communicator=None,
        persister=manager.get_persister(),
    )
    manager.set_runner(runner)
    received: list[int] = []

    def on_signal(number: int) -> None:
        # Nothing is killed inside the loop: a step suspended in a greenback portal (a calcfunction, a job's
        # cancellation) may be half-way through its database work, and a kill's writes interleaved with it left the
        # session unusable ("prepared" state) and the loop waiting for good. The loop stops after this iteration;
        # what it ran is ended from the database afterwards, where nothing else runs.
        if not received:
            received.append(number)
            runner.loop.set_exception_handler(lambda _loop, _context: None)  # abandoned tasks: no noise at exit
            runner.loop.stop()

    # `kill -USR1 <pid>` prints where every thread of the run is, without stopping it: what a run that seems stuck
    # is waiting for.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    with loop_scope(runner.loop):
        process = instantiate_process(runner, builder)
        node = process.node
        pk = node.pk
        node.base.extras.set(RUNNER_EXTRA, {'pid': os.getpid(), 'host': socket.gethostname()})
        for number in (signal.SIGINT, signal.SIGTERM):
            runner.loop.add_signal_handler(number, on_signal, number)
        try:
            process.execute()
        except RuntimeError:  # the loop stopped before the workchain finished
            if not received:
                raise
        finally:
            for number in (signal.SIGINT, signal.SIGTERM):
                runner.loop.remove_signal_handler(number)
    if received:
        with without_console_reports():
            node, ended = _end_interrupted_run(manager, pk, signal.Signals(received[0]).name)
        advice = (continue_with or '`orm.load_node({pk}).get_builder_restart()`').format(pk=pk)
        print(
            f'Interrupted: {node.process_label}<{pk}> stopped, {ended} unfinished processes killed, '
            f'finished work kept; continue with {advice}',
            file=sys.stderr,
            flush=True,
        )
        raise RunInterruptedError(node, ended)
    return node


def _signal_owning_runner_class():
    from aiida.engine.runners import Runner as AiidaRunner

    class SignalOwningRunner(AiidaRunner):
        """A runner whose signals :func:`run` handles: aiida's calcfunctions leave SIGINT alone in it.

        aiida installs a ``signal.signal`` handler for SIGINT around every calcfunction a runner that is not a
        daemon's runs, and that handler kills from between two bytecodes, inside a commit if it comes to that (the
        "prepared" session). aiida asks ``is_daemon_runner`` only for that decision.
        """

        @property
        def is_daemon_runner(self) -> bool:
            return True

    return SignalOwningRunner


def _end_interrupted_run(manager, pk: int, signal_name: str) -> tuple[orm.ProcessNode, int]:
    """End the jobs and mark killed the unfinished processes of the tree of ``pk``; return its node, loaded afresh,
    and how many were killed.

    The steps the stopped loop left suspended may hold database work half-done, even a commit half-way (its
    transaction 'prepared' or 'committed' but not ended): the session is closed first, which ends its transaction
    in any state (what was committed stays, as after a crash), and the nodes are loaded afresh.
    """
    manager.get_profile_storage().get_session().close()
    node = orm.load_node(pk)
    end_orphaned_tree(node, f'Killed: the run that ran it received {signal_name}')
    return node, _killed_below(node)


def _killed_below(node: orm.ProcessNode) -> int:
    return sum(1 for process in [node, *node.called_descendants] if process.is_killed)


@dataclasses.dataclass
class Runner:
    """Who runs a workchain: a process on a host (``verdi run``), or the daemon."""

    pid: int | None
    host: str | None

    @classmethod
    def of(cls, node: orm.ProcessNode) -> Runner:
        recorded = node.base.extras.get(RUNNER_EXTRA, {})
        return cls(recorded.get('pid'), recorded.get('host'))

    def is_alive(self) -> bool:
        if self.pid is None:
            return _daemon_is_running()
        if self.host != socket.gethostname():
            return True  # another machine's process: nothing here can tell, so it is not ended from here
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        if self.pid is None:
            return 'the daemon (end it with `verdi process kill`)'
        return f'process {self.pid} on {self.host} (interrupt it with Ctrl-C or `kill -INT {self.pid}`)'


def _daemon_is_running() -> bool:
    from aiida.engine.daemon.client import get_daemon_client

    try:
        return get_daemon_client().is_daemon_running
    except Exception:  # no daemon configured for this profile: nothing runs it
        return False


def end_orphaned_tree(node: orm.ProcessNode, reason: str) -> list[orm.ProcessNode]:
    """End every process of ``node``'s tree that has not terminated and that nothing runs any more.

    Its scheduler jobs still running are killed first, then each node is marked killed with ``reason`` and
    sealed, as a kill would leave it. Finished children are not touched: the restart builder reuses them.
    Raise :class:`StillRunningError` if the process that ran the tree is alive.
    """
    unfinished = [process for process in [node, *node.called_descendants] if not process.is_terminated]
    if not unfinished:
        return []
    runner = Runner.of(node)
    if runner.is_alive() and runner.pid != os.getpid():
        raise StillRunningError(f'{node.process_label}<{node.pk}> is still run by {runner.describe()}')
    end_scheduler_jobs([process for process in unfinished if isinstance(process, orm.CalcJobNode)])
    for process in unfinished:
        process.set_process_state(ProcessState.KILLED)
        process.set_process_status(reason)
        process.seal()
    return unfinished


def end_scheduler_job(node: orm.CalcJobNode) -> None:
    """Kill the job of ``node`` if its scheduler still runs it (a zombie or finished job is left alone)."""
    end_scheduler_jobs([node])


def end_scheduler_jobs(nodes: list[orm.CalcJobNode], wait_seconds: float = 10.0) -> None:
    """Kill the jobs of ``nodes`` that their schedulers still run, then wait (``wait_seconds`` in all) until they
    are gone, so that their files stay as they left them.

    One transport and one listing per computer, every kill sent before any wait: an interrupted demo has some
    twenty jobs, and ending them one after the other, each with its own wait, took minutes.
    """
    _end_unrecorded_local_jobs(nodes, wait_seconds)
    by_authinfo: dict[int, list[orm.CalcJobNode]] = {}
    for node in nodes:
        if node.get_job_id() is not None:
            by_authinfo.setdefault(node.get_authinfo().pk, []).append(node)
    for group in by_authinfo.values():
        job_ids = [node.get_job_id() for node in group]
        with group[0].get_authinfo().get_transport() as transport:
            scheduler = group[0].computer.get_scheduler()
            scheduler.set_transport(transport)
            for job_id in _still_running(scheduler, job_ids):
                try:
                    scheduler.kill_job(job_id)
                except Exception:  # it ended between the listing and the kill (the direct scheduler raises then)
                    continue
            deadline = time.monotonic() + wait_seconds
            while _still_running(scheduler, job_ids) and time.monotonic() < deadline:  # a kill is a signal
                time.sleep(0.5)


def _end_unrecorded_local_jobs(nodes: list[orm.CalcJobNode], wait_seconds: float) -> None:
    """End the processes of a local job whose node has a working folder but no job id.

    A run stopped while a job was being submitted can leave the job started and its id never stored: the
    scheduler's answer was still to be read when the event loop stopped. Nothing could then kill it by its id;
    on this computer its processes are those working in its folder. (On a remote computer such a job is left to
    its scheduler, which ends it at its wall-time limit.)
    """
    import psutil

    folders = [
        node.get_remote_workdir().rstrip('/')
        for node in nodes
        if node.get_job_id() is None and node.get_remote_workdir() and node.computer.transport_type == 'core.local'
    ]
    if not folders:
        return
    found = processes_working_in(folders)
    for process in found:
        with contextlib.suppress(psutil.Error):  # it ended meanwhile
            process.terminate()
    psutil.wait_procs(found, timeout=wait_seconds)


def processes_working_in(folders) -> list:
    """The processes of this machine (psutil) whose working directory is one of ``folders`` or below it, this
    process aside; a folder deleted under a process counts too."""
    import psutil

    folders = [str(folder).rstrip('/') for folder in folders]
    found = []
    for process in psutil.process_iter(['cwd']):
        cwd = (process.info.get('cwd') or '').removesuffix(' (deleted)')
        if process.pid != os.getpid() and any(cwd == folder or cwd.startswith(f'{folder}/') for folder in folders):
            found.append(process)
    return found


def _still_running(scheduler, job_ids: list[str]) -> list[str]:
    from aiida.schedulers.datastructures import JobState

    jobs = scheduler.get_jobs(job_ids, as_dict=True)
    return [job_id for job_id in job_ids if job_id in jobs and jobs[job_id].job_state != JobState.DONE]


@contextlib.contextmanager
def without_console_reports():
    """Keep the process reports off the terminal (the import prints its warnings once, itself; an interrupted run
    prints one line, not a report per killed process).

    Only the console handlers are filtered; the reports still reach the database (``verdi process report``).
    """
    from aiida.common.log import LOG_LEVEL_REPORT

    def not_a_report(record: logging.LogRecord) -> bool:
        return record.levelno != LOG_LEVEL_REPORT

    consoles = [handler for handler in logging.getLogger('aiida').handlers if type(handler) is logging.StreamHandler]
    for handler in consoles:
        handler.addFilter(not_a_report)
    try:
        yield
    finally:
        for handler in consoles:
            handler.removeFilter(not_a_report)
