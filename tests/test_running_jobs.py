"""Ending the jobs of a run that was stopped: by their scheduler id, and those whose id was never stored."""

from __future__ import annotations

import subprocess
import sys

from aiida import orm

from aiida_superionic.workflows.running import end_scheduler_jobs


def test_a_local_job_whose_id_was_never_stored_is_ended_by_its_folder(aiida_localhost, tmp_path):
    """A run stopped while a job was being submitted leaves the job running and its node without a job id: its
    processes, those working in its folder, are ended; a process working elsewhere is left alone."""
    workdir = tmp_path / 'job'
    workdir.mkdir()
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    node = orm.CalcJobNode(computer=aiida_localhost)
    node.set_remote_workdir(str(workdir))
    node.store()
    sleeper = [sys.executable, '-c', 'import time; time.sleep(120)']
    job = subprocess.Popen(sleeper, cwd=workdir)
    bystander = subprocess.Popen(sleeper, cwd=elsewhere)
    try:
        end_scheduler_jobs([node], wait_seconds=10)
        assert job.wait(timeout=5) is not None
        assert bystander.poll() is None
    finally:
        for process in (job, bystander):
            process.kill()
            process.wait()
