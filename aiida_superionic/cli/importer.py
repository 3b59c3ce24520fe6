"""``aiida-superionic import``: descriptors of an MD run another code wrote, with its files as provenance."""

from __future__ import annotations

import math

import click


@click.command('import')
@click.argument('paths', nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    '--timestep-fs', type=float, help='MD time step (fs); overrides POTIM; needed when a folder has no INCAR or OUTCAR.'
)
@click.option('--nblock', type=int, help='Ionic steps per XDATCAR frame; overrides NBLOCK of the run.')
@click.option('--frame-interval-fs', type=float, help='Time between frames (fs) of a trajectory file ASE reads.')
@click.option(
    '--temperature', 'temperature_K', type=float, help='Temperature of the run (K); default TEBEG of the run.'
)
@click.option(
    '--mobile-species',
    help='Element whose diffusion is analysed; default the first of Li, Na, Ag, Cu, F, Cl, Br, I, O.',
)
@click.option(
    '--equilibration-ps', type=float, default=0.0, show_default=True, help='Time discarded from the start (ps).'
)
@click.option(
    '--trajectory-file',
    type=click.Choice(['XDATCAR', 'vasprun.xml']),
    help='Which file of a VASP folder to read when both are there (default XDATCAR).',
)
@click.option(
    '--symbols', help='Comma-separated species of a VASP 4 XDATCAR, which does not name them (e.g. Li,P,S,Cl).'
)
@click.option('--ase-format', help="ASE's name of the file format, when the suffix does not tell it (e.g. extxyz).")
@click.option(
    '-p', '--profile', 'profile_name', help='AiiDA profile to store the nodes in (default: the default profile).'
)
def cmd_import(paths, profile_name, symbols, **options):
    """Import an MD run and print its descriptors.

    PATHS are the run's segments in order: VASP run folders (XDATCAR or vasprun.xml with INCAR, or
    OUTCAR when there is no INCAR; .gz/.bz2/.xz read as they are), or trajectory files ASE reads
    (.xyz, .extxyz, .traj). The files are stored as the inputs of an ``import_trajectory``
    calcfunction whose output trajectory goes through ``compute_trajectory_descriptors``.
    Importing the same files again reuses the stored nodes.
    """
    from ..readers.trajectory import TrajectoryFileError
    from ..workflows.importer import ImportFailedError, import_md_run
    from ..workflows.running import without_console_reports
    from .profiles import load_profile_or_exit

    load_profile_or_exit(profile_name)
    try:
        with without_console_reports():
            result = import_md_run(list(paths), symbols=symbols.split(',') if symbols else None, **options)
    except (TrajectoryFileError, ImportFailedError) as exception:
        raise click.ClickException(str(exception)) from exception

    parameters = result.parameters.get_dict()
    for warning in result.warnings:
        click.secho(f'Warning: {warning}', fg='yellow', err=True)
    descriptors = result.descriptors.get_dict()
    click.echo(
        f'Run:         {parameters["frames"]} frames x {parameters["atoms"]} atoms, '
        f'{parameters["duration_ps"]:.3f} ps, {parameters.get("frame_interval_fs", math.nan):g} fs between frames'
    )
    click.echo(f'Files:       {", ".join(parameters["source_files"])}')
    click.echo(f'Analysis:    {descriptors["mobile_species"]} at {descriptors["temperature_K"]:g} K')
    width = max(len(key) for key in descriptors)
    for key in sorted(descriptors):
        if key != 'analysis_settings':
            click.echo(f'  {key:<{width}}  {_format(descriptors[key])}')

    def status(reused: bool) -> str:
        return 'stored before, reused' if reused else 'new'

    click.echo(f'Import:      import_trajectory<{result.import_calculation.pk}> ({status(result.import_reused)})')
    click.echo(
        f'Descriptors: compute_trajectory_descriptors<{result.descriptors_calculation.pk}> '
        f'({status(result.descriptors_reused)}): '
        f'trajectory<{result.trajectory.pk}> -> descriptors<{result.descriptors.pk}>'
    )
    click.echo(f'Provenance:  verdi node graph generate {result.import_calculation.pk}')


def _format(value) -> str:
    if isinstance(value, float):
        return f'{value:.6g}'
    return str(value)
