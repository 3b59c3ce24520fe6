"""``aiida-superionic stop``: end the processes a killed ``verdi run`` left behind, without a daemon."""

from __future__ import annotations

import click


@click.command('stop')
@click.argument('pk', type=int)
@click.option('-p', '--profile', 'profile_name', help='AiiDA profile of the workchain (default: the default profile).')
def cmd_stop(pk, profile_name):
    """End workchain PK and every unfinished process under it, when nothing runs them any more.

    A ``verdi run`` that was killed (SIGKILL, a closed terminal, a crashed machine) leaves its processes
    ``Waiting`` or ``Running`` with nobody to run them, and without a daemon ``verdi process kill`` cannot reach
    them. This command kills their jobs still running on the computer, marks them killed, and keeps every
    finished child for the restart builder. It refuses while the process that ran them is still alive.
    """
    from aiida import orm

    from ..workflows.running import StillRunningError, end_orphaned_tree
    from .profiles import load_profile_or_exit

    load_profile_or_exit(profile_name)
    try:
        node = orm.load_node(pk)
    except Exception as exception:
        raise click.ClickException(f'no node with pk {pk} in this profile ({exception})') from exception
    if not isinstance(node, orm.ProcessNode):
        raise click.ClickException(f'node {pk} is a {type(node).__name__}, not a process')
    try:
        ended = end_orphaned_tree(node, f'Killed by `aiida-superionic stop {pk}`: the run that ran it had ended')
    except StillRunningError as exception:
        raise click.ClickException(f'{exception}; nothing was changed') from exception
    if not ended:
        click.echo(f'{node.process_label}<{pk}> and its children had all terminated: nothing to stop.')
        return
    click.echo(
        f'Stopped {node.process_label}<{pk}>: {len(ended)} unfinished processes ended, finished work kept. '
        f'Continue with the restart builder (`verdi run examples/submit_sse.py --restart {pk}` for the demo).'
    )
