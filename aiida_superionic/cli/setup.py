"""``aiida-superionic setup``: the embedded default profile and the ``superionic-python`` code."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import click

#: Label of the code that runs the ASE engine with this environment's Python.
CODE_LABEL = 'superionic-python'

#: Name of the profile created when none exists.
DEFAULT_PROFILE_NAME = 'superionic'


def ensure_profile(profile_name: str = DEFAULT_PROFILE_NAME) -> str:
    """Return the name of the default AiiDA profile, creating the embedded one if there is none.

    The embedded profile is what ``verdi presto --use-zeromq`` makes: SQLite storage, the ZeroMQ
    broker (no RabbitMQ, no PostgreSQL), the ``localhost`` computer, ``runner.poll.interval`` 1 s.
    ZeroMQ is forced so the embedded default never depends on a RabbitMQ that happens to run.
    """
    from aiida.manage.configuration import get_config, reset_config

    config = get_config(create=True)
    # A default that names a deleted profile (the config file keeps the name) counts as none.
    if config.default_profile_name in config.profile_names:
        return config.default_profile_name
    if profile_name in config.profile_names:
        config.set_default_profile(profile_name, overwrite=True).store()
        return profile_name
    verdi = shutil.which('verdi', path=str(pathlib.Path(sys.executable).parent)) or 'verdi'
    command = [verdi, 'presto', '--use-zeromq', '--profile-name', profile_name, '--non-interactive']
    subprocess.run(command, check=True)
    reset_config()  # the profile was written by another process: read the file again
    return profile_name


def ensure_localhost_python_code(label: str = CODE_LABEL):
    """Return the ``InstalledCode`` that runs this environment's Python on ``localhost``; create what is missing."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        computer = orm.load_computer('localhost')
    except NotExistent:
        computer = orm.Computer(
            label='localhost',
            hostname='localhost',
            description='This machine, through the local transport and the direct scheduler.',
            transport_type='core.local',
            scheduler_type='core.direct',
            workdir=str(pathlib.Path.home() / '.aiida_run'),
        ).store()
        computer.set_minimum_job_poll_interval(0.0)
        computer.configure()
    if not computer.is_user_configured(orm.User.collection.get_default()):
        computer.configure()
    try:
        code = orm.load_code(f'{label}@{computer.label}')
    except NotExistent:
        code = orm.InstalledCode(
            label=label,
            computer=computer,
            filepath_executable=sys.executable,
            default_calc_job_plugin='superionic.ase',
            description='Python with ase and CHGNet: runs the superionic.ase engine.',
        ).store()
        return code
    if str(code.filepath_executable) != sys.executable:
        click.echo(
            f"Warning: code {code.full_label} runs {code.filepath_executable}, not this environment's "
            f'{sys.executable}; relabel or delete it (`verdi code relabel/delete`) to have a new one made.',
            err=True,
        )
    return code


@click.command('setup')
@click.option(
    '--profile-name',
    default=DEFAULT_PROFILE_NAME,
    show_default=True,
    help='Name of the profile to create when no profile exists yet.',
)
def cmd_setup(profile_name):
    """Make the embedded default ready: a profile (SQLite, no services) and the ASE engine's code.

    Idempotent: an existing default profile is used as it is.
    """
    from aiida import load_profile
    from aiida.manage.configuration import get_config

    name = ensure_profile(profile_name)
    profile = load_profile(name, allow_switch=True)
    code = ensure_localhost_python_code()
    interval = get_config().get_option('runner.poll.interval', scope=name)
    click.echo(f'Profile: {profile.name} (storage {profile.storage_backend}, broker {profile.process_control_backend})')
    click.echo(f'Code:    {code.full_label} -> {code.filepath_executable}')
    if interval and interval > 5:
        click.echo(
            f'Note: runner.poll.interval is {interval} s; for local work run `verdi config set runner.poll.interval 1`.'
        )
