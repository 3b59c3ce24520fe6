"""The analysis report: one folder with the figures (PNG), ``report.json`` (every number) and ``index.html``.

:func:`write_report` runs, on a descriptor table, what the paper does, with the rules that keep a
number that cannot be trusted out of it:

1. refuses a table of several (engine, model) pairs unless ``allow_mixed`` (and then says so);
2. keeps a flagged D (a ``diffusivity_verdict`` other than ``diffusive``) out of everything that
   uses D unless ``include_flagged`` (:mod:`.selection`), and lists those rows and why;
3. selects the rows of the statistics: T = 500 ± 100 K by default (``temperature_K``,
   ``window_K``), one row per material and composition (the closest temperature; several rows at
   it: their median), or every row (``all_rows``); an empty selection is an error;
4. Spearman and Pearson matrices with p-values, for all rows and per group (``group_by``,
   by default ``mobile_family``); ``space_group`` is tested as a category (Kruskal–Wallis);
5. the target's ranked correlations (any numeric column: a descriptor or one the user brought),
   with the p < 0.2 cut, Benjamini–Hochberg adjusted p-values and bootstrap intervals;
6. PCA of the standardised descriptors (``space_group`` one-hot; a target that is not a
   descriptor only with ``target_in_pca``), k-means in PC1–PC2 and PC1–PC2–PC3 (elbow, silhouette);
7. the MLP, kernel ridge and a random forest on every row (all temperatures), harmonic and
   anharmonic inputs (and element fractions with ``composition_features``), validated leaving one
   material out; a feature set with the same inputs as another is trained once.

Besides ``report.json`` and ``index.html`` the folder holds ``selection.csv`` (the rows of the
statistics, with their cluster and the ``keep_columns``) and ``predictions.csv`` (every held-out
and training prediction). Pure numpy/scipy/pandas/scikit-learn/matplotlib.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
from collections.abc import Callable

import pandas as pd

from ..descriptors.keys import DESCRIPTOR_KEYS
from . import figures
from .classes import DEFAULT_K_VALUES, cluster_scan
from .ml import (
    COMPOSITION_SET,
    DEFAULT_MAX_ITER,
    FEATURE_SETS,
    MODELS,
    PAPER_HIDDEN_LAYERS,
    check_target,
    cross_validate,
    material_folds,
    model_inputs,
)
from .report_page import (
    FIGURES,  # noqa: F401 (the figure names, re-exported for callers of write_report)
    jsonable,
    render_html,
)
from .selection import DIFFUSION_KEY, flagged_mask, mask_flagged_diffusion, select_rows
from .statistics import (
    CORRELATION_KEYS,
    MIN_COMPLETE_ROWS,
    PAPER_TEMPERATURE_K,
    PAPER_WINDOW_K,
    SIGNIFICANCE_P,
    by_family,
    categorical_associations,
    correlation_matrix,
    descriptor_matrix,
    prepare_descriptors,
    principal_components,
    ranked_correlations,
    with_one_hot,
)
from .table import TABLE_COLUMNS, check_single_source, engine_model_pairs, normalise_table

REPORT_SCHEMA = 'aiida-superionic analysis report, version 2'

#: The correlation policy, as written into report.json.
CORRELATION_NAN_POLICY = (
    'pairwise complete: each coefficient uses the rows where both descriptors are present; fewer than '
    'min_rows such rows, or a descriptor constant on them: NaN, and the pair is listed'
)

#: ``group_by`` names the report accepts beside a column name.
GROUP_ALIASES = {'family': 'mobile_family', 'species': 'mobile_species'}

STATISTICS_STEPS = 6
Progress = Callable[[int, int, str], None]


def write_report(
    table: pd.DataFrame,
    folder,
    *,
    target: str = DIFFUSION_KEY,
    log_target: bool = False,
    nan_policy: str = 'drop_columns',
    allow_mixed: bool = False,
    seed: int = 0,
    max_iter: int = DEFAULT_MAX_ITER,
    hidden_layer_sizes=PAPER_HIDDEN_LAYERS,
    folds: int | None = None,
    n_clusters: int | None = None,
    k_values=DEFAULT_K_VALUES,
    temperature_K: float = PAPER_TEMPERATURE_K,
    window_K: float = PAPER_WINDOW_K,
    all_rows: bool = False,
    include_flagged: bool = False,
    keep_columns=(),
    target_in_pca: bool = False,
    features=None,
    exclude=(),
    composition_features: bool = False,
    models=MODELS,
    group_by: str = 'mobile_family',
    min_rows: int = MIN_COMPLETE_ROWS,
    p_cut: float = SIGNIFICANCE_P,
    n_bootstrap: int = 1000,
    ml: bool = True,
    draw_figures: bool = True,
    source: str | None = None,
    join: dict | None = None,
    progress: Progress | None = None,
) -> dict:
    """Analyse ``table`` and write the report into ``folder`` (created; files in it are overwritten).

    :param target: any numeric column: a descriptor, or one the user brought (kept as an extra column).
    :param log_target: the ML fits log10 of the target (rows with target ≤ 0 left out, counted).
    :param nan_policy: ``'drop_columns'`` or ``'impute'`` for PCA, k-means and ML (:mod:`.statistics`).
    :param allow_mixed: pool rows of several (engine, model) pairs; the report flags it.
    :param seed: seeds the bootstrap, k-means, the MLP and the forest.
    :param max_iter: epochs of the MLP; ``hidden_layer_sizes`` its layers (default the paper's).
    :param folds: ``None`` to leave one material out, or a number of ``GroupKFold`` folds.
    :param n_clusters: fix k (e.g. the paper's 6); default the largest silhouette.
    :param temperature_K: centre (K) and ``window_K`` half width (K) of the selection; ``all_rows`` skips it.
    :param include_flagged: put the flagged D back into the analysis (the report says so).
    :param keep_columns: columns carried into ``selection.csv`` and ``predictions.csv`` (ids, families).
    :param target_in_pca: a target that is not a descriptor enters the PCA and k-means too.
    :param features: the ML inputs instead of the feature sets' (``exclude``: columns never inputs).
    :param composition_features: add the ``'composition'`` feature set (element fractions of the formula).
    :param models: the models trained (of ``ml.MODELS``).
    :param group_by: the column of the per-group correlations and cluster tables (``family``: ``mobile_family``).
    :param min_rows: fewest complete rows for a correlation coefficient.
    :param p_cut: the significance cut of the ranked correlations (the paper's 0.2).
    :param n_bootstrap: resamples of the bootstrap intervals (0: none).
    :param ml: run the ML section.
    :param draw_figures: draw the PNG figures (the slow part on a busy machine); without them, the numbers only.
    :param source: where the table came from (a path or a profile), written into the report.
    :param join: what was joined to the table (:func:`.table.join_columns`), written into the report.
    :param progress: called as ``progress(done, total, label)`` as the work advances.
    :return: the content of ``report.json``.
    :raises MixedSourcesError: for several (engine, model) pairs without ``allow_mixed``.
    :raises EmptySelectionError: when the selection keeps no row.
    :raises ValueError: for a target, a kept column, a group or an input that the table does not have.
    """
    from .. import __version__

    group_by = GROUP_ALIASES.get(group_by, group_by)
    keep_columns, exclude = tuple(keep_columns or ()), tuple(exclude or ())
    models = tuple(models or MODELS)
    extra = [column for column in table.columns if column not in TABLE_COLUMNS]
    table = normalise_table(table, extra)
    check_target(table, target)
    missing = [column for column in (*keep_columns, group_by) if column not in table.columns]
    if missing:
        raise ValueError(f'no columns {missing} in the table (name them with --keep-columns, or join them)')
    unknown_models = [model for model in models if model not in MODELS]
    if unknown_models:
        raise ValueError(f'unknown models {unknown_models}: choose among {MODELS}')
    external = target not in DESCRIPTOR_KEYS
    mixed = check_single_source(table, allow_mixed)

    # Flagged D out (unless asked), then the rows of the statistics: errors before anything is written.
    masked, flagged = mask_flagged_diffusion(table, include_flagged)
    selected, selection = select_rows(masked, temperature_K, window_K, all_rows, allow_mixed, value_columns=[target])
    feature_sets = [*FEATURE_SETS, *([COMPOSITION_SET] if composition_features else [])]
    resolved, same_as, not_trained = (
        _resolve_feature_sets(masked, target, feature_sets, log_target, nan_policy, features, exclude)
        if ml
        else ({}, {}, {})
    )
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    ml_folds = _count_folds(resolved, folds)
    total = STATISTICS_STEPS + ml_folds * len(models)
    done = 0

    def advance(label: str, steps: int = 1) -> None:
        """Count ``steps`` done; ``label`` names what runs now."""
        nonlocal done
        done += steps
        if progress is not None:
            progress(done, total, label)

    settings = {
        'target': target,
        'target_is_descriptor': not external,
        'log_target': log_target,
        'nan_policy': nan_policy,
        'allow_mixed': allow_mixed,
        'include_flagged': include_flagged,
        'seed': seed,
        'max_iter': max_iter,
        'hidden_layer_sizes': list(hidden_layer_sizes),
        'folds': 'leave-one-material-out' if folds is None else folds,
        'n_clusters': n_clusters,
        'k_values': list(k_values),
        'temperature_K': None if all_rows else temperature_K,
        'window_K': None if all_rows else window_K,
        'all_rows': all_rows,
        'keep_columns': list(keep_columns),
        'target_in_pca': target_in_pca or not external,
        'features': None if features is None else list(features),
        'exclude': list(exclude),
        'composition_features': composition_features,
        'models': list(models),
        'group_by': group_by,
        'min_rows': min_rows,
        'p_cut': p_cut,
        'n_bootstrap': n_bootstrap,
    }
    report: dict = {
        'schema': REPORT_SCHEMA,
        'aiida_superionic_version': __version__,
        'source': source,
        'join': join,
        'settings': settings,
        'table': {
            'rows': len(table),
            'materials': int(table['formula'].nunique()),
            'rows_per_family': {str(k): int(v) for k, v in table['mobile_family'].value_counts().sort_index().items()},
            'engine_model_pairs': [list(pair) for pair in engine_model_pairs(table)],
            'mixed_engines_or_models': mixed,
        },
        'flagged': flagged,
        'selection': selection,
        'figures': {},
    }
    advance('correlation matrices')

    # Correlation matrices, all rows and per group (pairwise complete); an external target is a column of them.
    columns = [*CORRELATION_KEYS, *([target] if external else [])]
    matrix = descriptor_matrix(selected, columns)
    correlations = {method: correlation_matrix(matrix, method, min_rows) for method in ('spearman', 'pearson')}

    def grouped(function):
        return by_family(selected.assign(mobile_family=selected[group_by]), function, min_rows)

    report['correlations'] = {
        'nan_policy': CORRELATION_NAN_POLICY,
        'all': {method: result.summary() for method, result in correlations.items()},
        'by_group': grouped(
            lambda rows: {
                method: correlation_matrix(descriptor_matrix(rows, columns), method, min_rows).summary()
                for method in ('spearman', 'pearson')
            }
        ),
        'categorical': categorical_associations(selected, columns, min_rows=min_rows),
    }
    advance('ranked correlations')

    # The target's ranked correlations, and its test against the space group.
    def rank(rows: pd.DataFrame, method: str) -> pd.DataFrame:
        return ranked_correlations(
            descriptor_matrix(rows, columns), target, method, p_cut, min_rows, n_bootstrap, seed=seed
        )

    ranked = {method: rank(selected, method) for method in ('spearman', 'pearson')}
    ranked_by_group = grouped(lambda rows: rank(rows, 'spearman'))
    report['target_correlations'] = {
        'target': target,
        'p_cut': p_cut,
        'significance': 'p < p_cut on the unadjusted p-value, as the paper; p_fdr is Benjamini–Hochberg over the '
        'descriptors with a p-value',
        'bootstrap': {'resamples': n_bootstrap, 'interval': '95 % percentile', 'seed': seed},
        'all': {method: _records(result) for method, result in ranked.items()},
        'categorical': [item for item in report['correlations']['categorical'] if item['descriptor'] == target],
        'by_group': {
            group: result if isinstance(result, dict) else {'spearman': _records(result)}
            for group, result in ranked_by_group.items()
        },
    }
    advance('PCA')

    # PCA and k-means, on the NaN-policy matrix of the selection (space group one-hot).
    pca = scans = None
    try:
        if len(selected) < 3:
            raise ValueError(f'{len(selected)} selected rows: PCA and k-means need at least 3')
        frame, one_hot = with_one_hot(selected)
        pca_columns = [*CORRELATION_KEYS, *one_hot, *([target] if external and target_in_pca else [])]
        prepared = prepare_descriptors(frame, nan_policy, pca_columns)
        report['nan_policy'] = prepared.summary()
        pca = principal_components(prepared.matrix)
        report['pca'] = pca.summary()
    except ValueError as exception:
        report.setdefault('nan_policy', {'nan_policy': nan_policy})
        report['pca'] = {'skipped': str(exception)}
    advance('k-means')
    if pca is not None:
        scans = [
            cluster_scan(pca.scores, selected['mobile_species'], dimensions, k_values, n_clusters, seed)
            for dimensions in (2, 3)
            if dimensions <= pca.scores.shape[1]
        ]
        report['clusters'] = {}
        for scan in scans:
            summary = scan.summary()
            counts = pd.crosstab(scan.labels, selected.loc[scan.labels.index, group_by].astype(str))
            summary['composition_by_group'] = {
                str(cluster): {str(name): int(count) for name, count in row.items() if count}
                for cluster, row in counts.iterrows()
            }
            report['clusters'][f'{scan.dimensions}d'] = summary
    else:
        report['clusters'] = {'skipped': report['pca']['skipped']}
    advance('machine learning' if ml else 'figures')

    # Machine learning on every row.
    validations = []
    if ml:
        try:
            if not resolved:
                raise ValueError('; '.join(f'{name}: {why}' for name, why in not_trained.items()))
            for feature_set, inputs in resolved.items():
                for model in models:
                    validations.append(
                        cross_validate(
                            masked,
                            target,
                            model,
                            feature_set,
                            log_target,
                            nan_policy,
                            folds,
                            seed,
                            max_iter,
                            hidden_layer_sizes,
                            allow_mixed,
                            on_fold=lambda label=f'{model} ({feature_set})': advance(label),
                            resolved=inputs,
                        )
                    )
            report['ml'] = {
                'target': target,
                'note': "MAPE is the paper's (sum |x0 - x| / N / |mean x0|) as a fraction, pooled over folds, "
                'for training and held-out predictions separately; MAE and RMSE are in the units of the fitted '
                'target (decades with --log-target)',
                'rows_left_out_flagged': int(flagged_mask(table).sum())
                if target == DIFFUSION_KEY and not include_flagged
                else 0,
                'same_inputs': same_as,
                'feature_sets_not_trained': not_trained,
                'validations': [validation.summary() for validation in validations],
            }
        except ValueError as exception:
            report['ml'] = {'skipped': str(exception)}
    else:
        report['ml'] = {'skipped': 'not asked for'}

    # Figures and the exported results.
    advance('figures', 0)
    if draw_figures:
        report['figures'] = _draw(
            folder, report, correlations, ranked, ranked_by_group, pca, selected, scans, validations
        )
    report['files'] = _export(folder, selected, target, keep_columns, scans, validations, masked)
    advance('done', max(total - done, 0))  # the ML may have run fewer folds than planned, or none

    (folder / 'report.json').write_text(json.dumps(jsonable(report), allow_nan=False))
    (folder / 'index.html').write_text(render_html(report), encoding='utf-8')
    return report


def _resolve_feature_sets(table, target, feature_sets, log_target, nan_policy, features, exclude):
    """The inputs of each feature set, and which are the same as an earlier one (trained once, listed)."""
    resolved, same_as, seen = {}, {}, {}
    errors = {}
    for feature_set in feature_sets:
        try:
            inputs = model_inputs(table, target, feature_set, log_target, nan_policy, features, exclude)
        except ValueError as exception:
            errors[feature_set] = str(exception)
            continue
        if inputs.key() in seen:
            same_as[feature_set] = seen[inputs.key()]
            continue
        seen[inputs.key()] = feature_set
        resolved[feature_set] = inputs
    return resolved, same_as, errors


def _count_folds(resolved: dict, folds: int | None) -> int:
    """How many folds the ML will run over all feature sets (for the progress bar); 0 when it cannot run."""
    count = 0
    for inputs in resolved.values():
        with contextlib.suppress(ValueError):  # fewer than 2 materials: the ML says why, no folds to count
            count += len(material_folds(inputs.data['formula'], folds))
    return count


def _export(folder, selected, target, keep_columns, scans, validations, table) -> dict:
    """``selection.csv`` and ``predictions.csv``, with the kept columns; return ``{name: file name}``."""
    identity = ['formula', 'mobile_species', 'mobile_family', 'temperature_K', 'stoichiometric']
    columns = list(dict.fromkeys([*identity, *keep_columns, target, 'diffusivity_verdict']))
    rows = selected.loc[:, columns].copy()
    for scan in scans or []:
        rows[f'cluster_{scan.dimensions}d'] = scan.labels
    rows.to_csv(folder / 'selection.csv', index_label='row')
    files = {'selection': 'selection.csv'}
    if validations:
        frames = []
        for validation in validations:
            predictions = validation.predictions.assign(model=validation.model, feature_set=validation.feature_set)
            frames.append(predictions)
        predictions = pd.concat(frames, ignore_index=True)
        kept = table.loc[:, [column for column in keep_columns if column != 'formula']]
        predictions = predictions.join(kept, on='row_uuid')
        order = ['model', 'feature_set', 'fold', 'side', 'row_uuid', 'formula', *kept.columns, 'true', 'predicted']
        predictions.loc[:, order].to_csv(folder / 'predictions.csv', index=False)
        files['predictions'] = 'predictions.csv'
    return files


def _records(ranked: pd.DataFrame) -> list[dict]:
    return [{'descriptor': str(name), **row} for name, row in ranked.to_dict(orient='index').items()]


def _draw(folder, report, correlations, ranked, ranked_by_group, pca, selected, scans, validations) -> dict:
    """Write every figure that has data; return ``{name: file name}``."""
    target = report['target_correlations']['target']
    p_cut = report['target_correlations']['p_cut']
    drawn = {}

    def draw(name: str, function, *arguments, **options):
        path = folder / f'{name}.png'
        function(*arguments, path, **options)
        drawn[name] = path.name

    # Without a single pair of enough rows (e.g. nothing near 500 K) there is no matrix to draw: report.json says why.
    if figures.has_off_diagonal(correlations['spearman'].coefficient):
        draw('correlogram_spearman', figures.plot_correlogram, correlations['spearman'].coefficient, title='Spearman ρ')
        draw(
            'p_values_spearman',
            figures.plot_p_values,
            correlations['spearman'].p_value,
            title='Spearman p-values',
            p_cut=p_cut,
        )
    if figures.has_off_diagonal(correlations['pearson'].coefficient):
        draw('correlogram_pearson', figures.plot_correlogram, correlations['pearson'].coefficient, title='Pearson r')
    for name, method in (('target_correlations', 'spearman'), ('target_correlations_pearson', 'pearson')):
        if ranked[method]['coefficient'].notna().any():
            title = f'{method.capitalize()}, all selected rows'
            draw(name, figures.plot_ranked_correlations, ranked[method], target=target, p_cut=p_cut, title=title)
    per_family = {
        family: result['coefficient'] for family, result in ranked_by_group.items() if isinstance(result, pd.DataFrame)
    }
    if per_family and pd.DataFrame(per_family).notna().any().any():
        frame = pd.DataFrame(per_family).reindex(ranked['spearman'].index)
        draw(
            'target_correlations_by_family',
            figures.plot_family_correlations,
            frame,
            target=target,
            group=report['settings']['group_by'],
        )
    if pca is not None:
        draw('scree', figures.plot_scree, pca.explained_variance_ratio)
        if pca.scores.shape[1] >= 2:
            draw(
                'biplot',
                figures.plot_biplot,
                pca.scores,
                pca.loadings,
                selected['mobile_species'],
                pca.explained_variance_ratio,
            )
    if scans:
        draw('elbow_silhouette', figures.plot_elbow_silhouette, scans)
        for scan in scans:
            draw(
                f'clusters_{scan.dimensions}d',
                figures.plot_clusters,
                pca.scores,
                scan.labels,
                selected['mobile_species'],
                dimensions=scan.dimensions,
            )
    if validations:
        draw('parity', figures.plot_parity, validations)
    return drawn
