"""``aiida-superionic export`` and ``aiida-superionic analyze``: the descriptor table and its statistics."""

from __future__ import annotations

import pathlib

import click

TABLE_SUFFIXES = ('.csv', '.parquet')
DIFFUSION_KEY = 'diffusion_coefficient_cm2_s'


def _table_path(context, parameter, value: pathlib.Path) -> pathlib.Path:
    if value.suffix.lower() not in TABLE_SUFFIXES:
        raise click.BadParameter(f'{value}: a table file ends in .csv or .parquet', context, parameter)
    return value


@click.command('export')
@click.argument('output', type=click.Path(dir_okay=False, path_type=pathlib.Path), callback=_table_path)
@click.option('-p', '--profile', 'profile_name', help='AiiDA profile to read (default: the default profile).')
@click.option(
    '-G',
    '--group',
    'group_identifier',
    help='Group (label, pk or UUID): keep the rows in it, or made by a workchain in it.',
)
@click.option('--mobile-species', help='Keep the rows of this mobile species (e.g. Li).')
@click.option('--engine', help='Keep the rows of this engine (e.g. ase, vasp).')
@click.option('--model', help='Keep the rows of this model or functional.')
@click.option('--t-min', 't_min', type=float, help='Lowest temperature kept (K, inclusive).')
@click.option('--t-max', 't_max', type=float, help='Highest temperature kept (K, inclusive).')
@click.option('-f', '--force', is_flag=True, help='Overwrite OUTPUT if it exists.')
def cmd_export(output, profile_name, group_identifier, mobile_species, engine, model, t_min, t_max, force):
    """Export the descriptor table of a profile to OUTPUT (.csv or .parquet).

    One row per merge_descriptors result (material x temperature x composition): the
    identifiers, the 54 descriptors (empty where an engine cannot give one) and the UUIDs of the
    row, of the workchain that made it and of its structure. Rows are indexed by UUID, which
    survives `verdi archive`.
    """
    from aiida import load_profile
    from aiida.common.exceptions import MissingConfigurationError, NotExistent, ProfileConfigurationError

    from ..analysis.export import NoDescriptorRowsError, export_table
    from ..analysis.table import MissingDependencyError, engine_model_pairs, write_table

    if output.exists() and not force:
        raise click.ClickException(f'{output} exists: pass -f/--force to overwrite it')
    try:
        profile = load_profile(profile_name, allow_switch=True)
    except (MissingConfigurationError, ProfileConfigurationError) as exception:
        raise click.ClickException(f'{exception}; make a profile with `aiida-superionic setup`') from exception
    temperature_range = (t_min, t_max) if t_min is not None or t_max is not None else None
    try:
        table = export_table(group_identifier, mobile_species, engine, model, temperature_range)
    except NotExistent as exception:
        raise click.ClickException(
            f'no group {group_identifier!r} in profile {profile.name!r}: {exception}'
        ) from exception
    except NoDescriptorRowsError as exception:
        raise click.ClickException(str(exception)) from exception
    try:
        write_table(table, output)
    except MissingDependencyError as exception:
        raise click.ClickException(str(exception)) from exception

    pairs = engine_model_pairs(table)
    click.echo(
        f'Wrote {len(table)} rows ({table["formula"].nunique()} materials, '
        f'{", ".join(f"{engine}/{model}" for engine, model in pairs)}) from profile {profile.name!r} to {output}'
    )
    if len(pairs) > 1:
        click.secho(
            f'Warning: the table mixes {len(pairs)} engine/model pairs; `aiida-superionic analyze` refuses it '
            'unless --allow-mixed (or export again with --engine/--model).',
            fg='yellow',
            err=True,
        )


def _target(context, parameter, value: str) -> str:
    from ..descriptors.keys import CATEGORICAL_KEYS, DESCRIPTOR_KEYS

    numeric = [key for key in DESCRIPTOR_KEYS if key not in CATEGORICAL_KEYS]
    if value not in numeric:
        raise click.BadParameter(f'{value!r} is not a numeric descriptor key; one of: {", ".join(numeric)}')
    return value


@click.command('analyze')
@click.argument(
    'table_path',
    metavar='TABLE',
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    callback=_table_path,
)
@click.option(
    '-o',
    '--output',
    'report_dir',
    metavar='REPORT_DIR',
    required=True,
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    help='Folder of the report (created): index.html, report.json and the figures.',
)
@click.option(
    '--target',
    default=DIFFUSION_KEY,
    show_default=True,
    callback=_target,
    help='Descriptor whose ranked correlations are shown and that the ML predicts.',
)
@click.option('--log-target', is_flag=True, help='The ML fits log10 of the target (rows with target <= 0 left out).')
@click.option(
    '--nan-policy',
    type=click.Choice(['drop_columns', 'impute']),
    default='drop_columns',
    show_default=True,
    help='PCA, k-means and ML: drop descriptors with any NaN, or replace NaN by the median.',
)
@click.option('--allow-mixed', is_flag=True, help='Pool rows of several engines or models (the report flags it).')
@click.option('--seed', type=int, default=0, show_default=True, help='Seed of the bootstrap, k-means and the MLP.')
@click.option('--max-iter', type=int, default=2000, show_default=True, help='Most epochs of the MLP.')
@click.option('--folds', type=int, help='GroupKFold folds by material for the ML (default: leave one material out).')
@click.option('--clusters', 'n_clusters', type=int, help='Fix k of k-means (default: the largest silhouette).')
@click.option('--bootstrap', 'n_bootstrap', type=int, default=1000, show_default=True, help='Bootstrap resamples.')
@click.option('--no-ml', is_flag=True, help='Skip the MLP and kernel-ridge models.')
@click.option(
    '--extra-columns',
    type=click.Choice(['refuse', 'ignore']),
    default='refuse',
    show_default=True,
    help="What to do with columns that are not the table's.",
)
def cmd_analyze(table_path, report_dir, extra_columns, no_ml, **options):
    """Analyse a descriptor TABLE (.csv or .parquet) and write a report folder.

    The paper's analysis: the T = 500 +- 100 K selection (one row per material and composition),
    Spearman and Pearson correlations with p-values for all rows and per family, the target's
    ranked correlations (p < 0.2, Benjamini-Hochberg, bootstrap intervals), PCA, k-means in PC
    space, and an MLP and a linear kernel-ridge model validated leaving one material out. Open
    REPORT_DIR/index.html; every number is in REPORT_DIR/report.json.
    """
    from ..analysis.report import write_report
    from ..analysis.table import MissingDependencyError, MixedSourcesError, TableColumnsError, read_table

    try:
        table = read_table(table_path, extra_columns=extra_columns)
    except (TableColumnsError, MissingDependencyError) as exception:
        raise click.ClickException(str(exception)) from exception

    state = {'bar': None}

    def progress(done: int, total: int, label: str) -> None:
        if state['bar'] is None:
            state['bar'] = click.progressbar(
                length=total, label='Analysing', show_pos=True, file=click.get_text_stream('stderr')
            )
            state['bar'].__enter__()
        bar = state['bar']
        bar.label = f'Analysing: {label:<28}'
        bar.update(done - bar.pos)

    try:
        report = write_report(table, report_dir, ml=not no_ml, source=str(table_path), progress=progress, **options)
    except (MixedSourcesError, ValueError) as exception:
        raise click.ClickException(str(exception)) from exception
    finally:
        if state['bar'] is not None:
            state['bar'].__exit__(None, None, None)

    selection = report['selection']
    click.echo(
        f'Analysed {report["table"]["rows"]} rows; {selection["rows_selected"]} near '
        f'{selection["temperature_K"]:g} K for the statistics.'
    )
    if report['table']['mixed_engines_or_models']:
        click.secho('Note: rows of several engines/models were pooled (--allow-mixed).', fg='yellow', err=True)
    click.echo(f'Report: {report_dir / "index.html"} (numbers in {report_dir / "report.json"})')
