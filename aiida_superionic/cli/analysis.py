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
    from aiida.common.exceptions import NotExistent

    from ..analysis.export import NoDescriptorRowsError, export_table
    from ..analysis.table import MissingDependencyError, engine_model_pairs, write_table
    from .profiles import load_profile_or_exit

    if output.exists() and not force:
        raise click.ClickException(f'{output} exists: pass -f/--force to overwrite it')
    profile = load_profile_or_exit(profile_name)
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


def _names(context, parameter, value: str | None) -> tuple[str, ...] | None:
    """A comma-separated list of column names (``a,b``); ``None`` when not given."""
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(',') if name.strip())
    if not names:
        raise click.BadParameter('give one or more column names separated by commas, e.g. id,family')
    return names


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
    help='Folder of the report (created): index.html, report.json, selection.csv, predictions.csv and the figures.',
)
@click.option(
    '--target-column',
    '--target',
    'target',
    default=DIFFUSION_KEY,
    show_default=True,
    help='Numeric column whose ranked correlations are shown and that the ML predicts: a descriptor, a column of '
    'TABLE (named here, it is kept) or one joined with --join.',
)
@click.option('--log-target', is_flag=True, help='The ML fits log10 of the target (rows with target <= 0 left out).')
@click.option(
    '--temperature',
    'temperature_K',
    type=float,
    default=500.0,
    show_default=True,
    help='Centre (K) of the selection of the statistics: per material, the row closest to it.',
)
@click.option(
    '--temperature-window',
    'window_K',
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    help='Half width (K) of the selection window.',
)
@click.option('--all-rows', is_flag=True, help='No selection: every row of every temperature enters the statistics.')
@click.option(
    '--include-flagged',
    is_flag=True,
    help='Use D of the rows whose diffusivity verdict flags it (left out by default; the report lists them).',
)
@click.option(
    '--join',
    'join_path',
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    help='A .csv or .parquet file of your own (e.g. measured conductivities) whose columns are added to TABLE.',
)
@click.option('--on', 'join_on', help='The column --join matches on: formula, row_uuid, structure_uuid or a kept one.')
@click.option(
    '--keep-columns',
    callback=_names,
    help='Columns of TABLE (beyond the standard ones) carried into the report, selection.csv and predictions.csv, '
    'comma-separated (e.g. id,family).',
)
@click.option('--target-in-pca', is_flag=True, help='A target that is not a descriptor enters the PCA and k-means.')
@click.option('--features', callback=_names, help='ML inputs instead of the feature sets, comma-separated.')
@click.option('--exclude', callback=_names, help='Columns never used as ML inputs, comma-separated.')
@click.option(
    '--composition-features',
    is_flag=True,
    help='Add a feature set of element fractions from the formula (pymatgen) and T.',
)
@click.option(
    '--models',
    callback=_names,
    default='mlp,kernel_ridge,random_forest',
    show_default=True,
    help='The models trained, comma-separated: mlp, kernel_ridge, random_forest.',
)
@click.option(
    '--group-by',
    default='family',
    show_default=True,
    help='Per-group correlations and cluster tables: family (mobile_family), species or a kept column.',
)
@click.option(
    '--nan-policy',
    type=click.Choice(['drop_columns', 'impute']),
    default='drop_columns',
    show_default=True,
    help='PCA, k-means and ML: drop descriptors with any NaN, or replace NaN by the median.',
)
@click.option('--allow-mixed', is_flag=True, help='Pool rows of several engines or models (the report flags it).')
@click.option('--seed', type=int, default=0, show_default=True, help='Seed of the bootstrap, k-means and the models.')
@click.option('--max-iter', type=int, default=2000, show_default=True, help='Most epochs of the MLP.')
@click.option('--folds', type=int, help='GroupKFold folds by material for the ML (default: leave one material out).')
@click.option('--clusters', 'n_clusters', type=int, help='Fix k of k-means (default: the largest silhouette).')
@click.option('--bootstrap', 'n_bootstrap', type=int, default=1000, show_default=True, help='Bootstrap resamples.')
@click.option('--no-ml', is_flag=True, help='Skip the models.')
@click.option(
    '--extra-columns',
    type=click.Choice(['refuse', 'ignore']),
    default='refuse',
    show_default=True,
    help="What to do with columns that are not the table's and not named by another option.",
)
def cmd_analyze(table_path, report_dir, extra_columns, no_ml, join_path, join_on, keep_columns, **options):
    """Analyse a descriptor TABLE (.csv or .parquet) and write a report folder.

    The paper's analysis: the T = 500 +- 100 K selection (one row per material and composition;
    --temperature, --temperature-window, --all-rows), Spearman and Pearson correlations with
    p-values for all rows and per family, the target's ranked correlations (p < 0.2,
    Benjamini-Hochberg, bootstrap intervals), PCA, k-means in PC space, and an MLP, a linear
    kernel ridge and a random forest validated leaving one material out. Rows whose D is flagged
    by its diffusivity verdict are kept out of everything that uses D (--include-flagged puts them
    back). Open REPORT_DIR/index.html; every number is in REPORT_DIR/report.json.
    """
    from ..analysis.report import write_report
    from ..analysis.selection import EmptySelectionError, describe_selection
    from ..analysis.table import (
        INDEX_COLUMN,
        TABLE_COLUMNS,
        JoinError,
        MissingDependencyError,
        MixedSourcesError,
        TableColumnsError,
        join_columns,
        read_any,
        read_table,
    )

    if (join_path is None) != (join_on is None):
        raise click.UsageError('--join FILE and --on COLUMN go together')
    keep_columns = keep_columns or ()
    try:
        joined = read_any(join_path) if join_path is not None else None
    except (JoinError, MissingDependencyError, OSError, ValueError) as exception:
        raise click.ClickException(f'{join_path}: {exception}') from exception
    brought = set(joined.columns) if joined is not None else set()
    named = [
        *keep_columns,
        options['target'],
        options['group_by'],
        *(options['features'] or ()),
        *(options['exclude'] or ()),
        *([join_on] if join_on else []),
    ]
    from_table = [
        name
        for name in dict.fromkeys(named)
        if name not in TABLE_COLUMNS and name not in brought and name not in (INDEX_COLUMN, 'family', 'species')
    ]
    try:
        table = read_table(table_path, extra_columns=extra_columns, keep=from_table)
    except (TableColumnsError, MissingDependencyError) as exception:
        raise click.ClickException(str(exception)) from exception
    except (ValueError, OSError) as exception:  # pandas' and pyarrow's errors on an empty or mislabelled file
        kind = table_path.suffix.lower().lstrip('.').upper()
        raise click.ClickException(
            f'{table_path}: not a readable {kind} table ({type(exception).__name__}: {exception}); '
            '`aiida-superionic export TABLE.csv` writes one'
        ) from exception
    join_summary = None
    if joined is not None:
        try:
            table, join_summary = join_columns(table, joined, join_on, source=str(join_path))
        except JoinError as exception:
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
        report = write_report(
            table,
            report_dir,
            ml=not no_ml,
            source=str(table_path),
            progress=progress,
            keep_columns=keep_columns,
            join=join_summary,
            **options,
        )
    except (MixedSourcesError, EmptySelectionError, ValueError) as exception:
        raise click.ClickException(str(exception)) from exception
    finally:
        if state['bar'] is not None:
            state['bar'].__exit__(None, None, None)

    selection, flagged = report['selection'], report['flagged']
    if join_summary is not None:
        click.echo(
            f'Joined {", ".join(join_summary["columns"])} from {join_path} on {join_on}: '
            f'{join_summary["rows_matched"]} rows matched, {join_summary["rows_unmatched"]} without a match.'
        )
    click.echo(f'Analysed {report["table"]["rows"]} rows; {describe_selection(selection)}.')
    if flagged['rows_flagged']:
        what = 'included (--include-flagged)' if flagged['include_flagged'] else 'left out of everything that uses D'
        click.secho(f'{flagged["rows_flagged"]} rows have a flagged D: {what}; see the report.', fg='yellow', err=True)
    if report['table']['mixed_engines_or_models']:
        click.secho('Note: rows of several engines/models were pooled (--allow-mixed).', fg='yellow', err=True)
    click.echo(f'Report: {report_dir / "index.html"} (numbers in {report_dir / "report.json"})')
