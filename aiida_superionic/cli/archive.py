"""``aiida-superionic archive``: a study (a group of workchains) as an AiiDA archive, checked for POTCARs."""

from __future__ import annotations

import pathlib

import click


@click.command('archive')
@click.argument('group_identifier', metavar='GROUP')
@click.argument('output', type=click.Path(dir_okay=False, path_type=pathlib.Path))
@click.option('-p', '--profile', 'profile_name', help='AiiDA profile to read (default: the default profile).')
@click.option(
    '--trajectories/--no-trajectories',
    default=True,
    show_default=True,
    help='The whole provenance graph (every calculation and trajectory), or only the rows, their descriptors '
    'and the input structures (a small file; the workchains are left out).',
)
@click.option('-f', '--force', is_flag=True, help='Overwrite OUTPUT if it exists.')
def cmd_archive(group_identifier, output, profile_name, trajectories, force):
    """Write the study GROUP (label, pk or UUID) to the AiiDA archive OUTPUT.

    With trajectories it is what `verdi archive create -G GROUP` writes. Either way the archive is then
    searched for POTCAR content, and deleted if it holds any. A collaborator imports it with
    `verdi archive import OUTPUT` and exports the table with `aiida-superionic export`.
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from ..tools.archive import PotcarInArchiveError, create_study_archive
    from .profiles import load_profile_or_exit

    if output.exists() and not force:
        raise click.ClickException(f'{output} exists: pass -f/--force to overwrite it')
    profile = load_profile_or_exit(profile_name)
    try:
        group = orm.load_group(group_identifier)
    except (NotExistent, ValueError) as exception:
        raise click.ClickException(f'no group {group_identifier!r} in profile {profile.name!r}: {exception}') from None
    try:
        path = create_study_archive(group, output, trajectories=trajectories, overwrite=force)
    except (ValueError, PotcarInArchiveError) as exception:
        raise click.ClickException(str(exception)) from exception
    size = path.stat().st_size / 1e6
    kind = 'with its whole provenance' if trajectories else 'rows and descriptors only'
    click.echo(f'Wrote the study {group.label!r} ({kind}) to {path} ({size:.1f} MB); no POTCAR content in it.')
