"""The analysis report: one folder with the figures (PNG), ``report.json`` (every number) and ``index.html``.

:func:`write_report` runs, on a descriptor table, what the paper does:

1. refuses a table of several (engine, model) pairs unless ``allow_mixed`` (and then says so);
2. selects T = 500 ± 100 K, one row per material and composition (:func:`.statistics.select_near_temperature`);
3. Spearman and Pearson matrices with p-values, for all rows and per ``mobile_family``;
4. the target's (by default D's) ranked correlations, with the p < 0.2 cut, Benjamini–Hochberg
   adjusted p-values and bootstrap intervals;
5. PCA of the standardised descriptors (NaN policy applied, constant columns dropped);
6. k-means in PC1–PC2 and PC1–PC2–PC3 over a range of k (elbow, silhouette);
7. the MLP and the kernel-ridge baseline, harmonic and anharmonic inputs, on every row, validated
   leaving one material out.

Pure numpy/scipy/pandas/scikit-learn/matplotlib: the table may come from an AiiDA profile
(:mod:`.export`) or from a file (:func:`.table.read_table`).
"""

from __future__ import annotations

import html
import json
import math
import pathlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..descriptors.keys import CATEGORICAL_KEYS, DESCRIPTOR_KEYS
from . import figures
from .classes import DEFAULT_K_VALUES, cluster_scan
from .ml import DEFAULT_MAX_ITER, FEATURE_SETS, MODELS, PAPER_HIDDEN_LAYERS, cross_validate, material_folds
from .statistics import (
    DIFFUSION_KEY,
    MIN_COMPLETE_ROWS,
    PAPER_TEMPERATURE_K,
    PAPER_WINDOW_K,
    SIGNIFICANCE_P,
    by_family,
    correlation_matrix,
    descriptor_matrix,
    prepare_descriptors,
    principal_components,
    ranked_correlations,
    select_near_temperature,
    selection_summary,
)
from .table import check_single_source, engine_model_pairs, normalise_table

REPORT_SCHEMA = 'aiida-superionic analysis report, version 1'

#: The correlation policy, as written into report.json.
CORRELATION_NAN_POLICY = (
    'pairwise complete: each coefficient uses the rows where both descriptors are present; fewer than '
    'min_rows such rows, or a descriptor constant on them: NaN, and the pair is listed'
)

#: Figure files of a report, and what they show.
FIGURES = {
    'correlogram_spearman': 'Spearman correlation matrix, all selected rows',
    'correlogram_pearson': 'Pearson correlation matrix, all selected rows',
    'p_values_spearman': 'p-values of the Spearman matrix (dots: p below the cut)',
    'target_correlations': "The target's ranked Spearman correlations (paper Fig. 2 b/c)",
    'target_correlations_pearson': "The target's ranked Pearson correlations",
    'target_correlations_by_family': "The target's Spearman correlations per family",
    'scree': 'Explained variance of the principal components',
    'biplot': 'PC1–PC2 biplot',
    'elbow_silhouette': 'k-means: elbow and silhouette',
    'clusters_2d': 'k-means clusters in PC1–PC2',
    'clusters_3d': 'k-means clusters in PC1–PC2–PC3',
    'parity': 'ML parity plots: training and held-out predictions',
}

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
    min_rows: int = MIN_COMPLETE_ROWS,
    p_cut: float = SIGNIFICANCE_P,
    n_bootstrap: int = 1000,
    ml: bool = True,
    source: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Analyse ``table`` and write the report into ``folder`` (created; files in it are overwritten).

    :param target: the descriptor whose ranked correlations are shown and that the ML predicts.
    :param log_target: the ML fits log10 of the target (rows with target ≤ 0 left out, counted).
    :param nan_policy: ``'drop_columns'`` or ``'impute'`` for PCA, k-means and ML (:mod:`.statistics`).
    :param allow_mixed: pool rows of several (engine, model) pairs; the report flags it.
    :param seed: seeds the bootstrap, k-means and the MLP.
    :param max_iter: epochs of the MLP; ``hidden_layer_sizes`` its layers (default the paper's).
    :param folds: ``None`` to leave one material out, or a number of ``GroupKFold`` folds.
    :param n_clusters: fix k (e.g. the paper's 6); default the largest silhouette.
    :param temperature_K: centre (K) and ``window_K`` half width (K) of the selection.
    :param min_rows: fewest complete rows for a correlation coefficient.
    :param p_cut: the significance cut of the ranked correlations (the paper's 0.2).
    :param n_bootstrap: resamples of the bootstrap intervals (0: none).
    :param ml: run the ML section.
    :param source: where the table came from (a path or a profile), written into the report.
    :param progress: called as ``progress(done, total, label)`` as the work advances.
    :return: the content of ``report.json``.
    :raises MixedSourcesError: for several (engine, model) pairs without ``allow_mixed``.
    """
    from .. import __version__

    if target not in DESCRIPTOR_KEYS or target in CATEGORICAL_KEYS:
        raise ValueError(f'the target must be a numeric descriptor key, not {target!r}')
    table = normalise_table(table)
    mixed = check_single_source(table, allow_mixed)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    ml_folds = _count_folds(table, target, log_target, folds) if ml else 0
    total = STATISTICS_STEPS + ml_folds * len(MODELS) * len(FEATURE_SETS)
    done = 0

    def advance(label: str, steps: int = 1) -> None:
        """Count ``steps`` done; ``label`` names what runs now."""
        nonlocal done
        done += steps
        if progress is not None:
            progress(done, total, label)

    settings = {
        'target': target,
        'log_target': log_target,
        'nan_policy': nan_policy,
        'allow_mixed': allow_mixed,
        'seed': seed,
        'max_iter': max_iter,
        'hidden_layer_sizes': list(hidden_layer_sizes),
        'folds': 'leave-one-material-out' if folds is None else folds,
        'n_clusters': n_clusters,
        'k_values': list(k_values),
        'temperature_K': temperature_K,
        'window_K': window_K,
        'min_rows': min_rows,
        'p_cut': p_cut,
        'n_bootstrap': n_bootstrap,
    }
    report: dict = {
        'schema': REPORT_SCHEMA,
        'aiida_superionic_version': __version__,
        'source': source,
        'settings': settings,
        'table': {
            'rows': len(table),
            'materials': int(table['formula'].nunique()),
            'rows_per_family': {str(k): int(v) for k, v in table['mobile_family'].value_counts().sort_index().items()},
            'engine_model_pairs': [list(pair) for pair in engine_model_pairs(table)],
            'mixed_engines_or_models': mixed,
        },
        'figures': {},
    }

    # 1. The 500 ± 100 K selection.
    selected = select_near_temperature(table, temperature_K, window_K, allow_mixed)
    report['selection'] = selection_summary(table, selected, temperature_K, window_K)
    advance('correlation matrices')

    # 2. Correlation matrices, all rows and per family (pairwise complete).
    matrix = descriptor_matrix(selected)
    correlations = {method: correlation_matrix(matrix, method, min_rows) for method in ('spearman', 'pearson')}
    family_correlations = by_family(
        selected,
        lambda rows: {
            method: correlation_matrix(descriptor_matrix(rows), method, min_rows).summary()
            for method in ('spearman', 'pearson')
        },
        min_rows,
    )
    report['correlations'] = {
        'nan_policy': CORRELATION_NAN_POLICY,
        'all': {method: result.summary() for method, result in correlations.items()},
        'by_family': family_correlations,
    }
    advance('ranked correlations')

    # 3. The target's ranked correlations.
    def rank(rows: pd.DataFrame, method: str) -> pd.DataFrame:
        return ranked_correlations(descriptor_matrix(rows), target, method, p_cut, min_rows, n_bootstrap, seed=seed)

    ranked = {method: rank(selected, method) for method in ('spearman', 'pearson')}
    ranked_by_family = by_family(selected, lambda rows: rank(rows, 'spearman'), min_rows)
    report['target_correlations'] = {
        'target': target,
        'p_cut': p_cut,
        'significance': 'p < p_cut on the unadjusted p-value, as the paper; p_fdr is Benjamini–Hochberg over the '
        'descriptors with a p-value',
        'bootstrap': {'resamples': n_bootstrap, 'interval': '95 % percentile', 'seed': seed},
        'all': {method: _records(result) for method, result in ranked.items()},
        'by_family': {
            family: result if isinstance(result, dict) else {'spearman': _records(result)}
            for family, result in ranked_by_family.items()
        },
    }
    advance('PCA')

    # 4. PCA and 5. k-means, on the NaN-policy matrix of the selection.
    pca = scans = None
    try:
        if len(selected) < 3:
            raise ValueError(f'{len(selected)} selected rows: PCA and k-means need at least 3')
        prepared = prepare_descriptors(selected, nan_policy)
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
        report['clusters'] = {f'{scan.dimensions}d': scan.summary() for scan in scans}
    else:
        report['clusters'] = {'skipped': report['pca']['skipped']}
    advance('machine learning' if ml else 'figures')

    # 6. Machine learning on every row.
    validations = []
    if ml:
        try:
            for model in MODELS:
                for feature_set in FEATURE_SETS:
                    validations.append(
                        cross_validate(
                            table,
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
                        )
                    )
            report['ml'] = {
                'target': target,
                'note': "MAPE is the paper's (sum |x0 - x| / N / |mean x0|) as a fraction, pooled over folds, "
                'for training and held-out predictions separately',
                'validations': [validation.summary() for validation in validations],
            }
        except ValueError as exception:
            report['ml'] = {'skipped': str(exception)}
    else:
        report['ml'] = {'skipped': 'not asked for'}

    # 7. Figures.
    advance('figures', 0)
    report['figures'] = _draw(folder, report, correlations, ranked, ranked_by_family, pca, selected, scans, validations)
    advance('done', max(total - done, 0))  # the ML may have run fewer folds than planned, or none

    (folder / 'report.json').write_text(json.dumps(_jsonable(report), allow_nan=False))
    (folder / 'index.html').write_text(render_html(report), encoding='utf-8')
    return report


def _count_folds(table: pd.DataFrame, target: str, log_target: bool, folds: int | None) -> int:
    """How many folds the ML will run (for the progress bar); 0 when it cannot run."""
    if target not in table.columns:
        return 0
    values = table[target].astype(float)
    usable = values.notna() & ((values > 0) if log_target else True)
    try:
        return len(material_folds(table.loc[usable, 'formula'], folds))
    except ValueError:
        return 0


def _records(ranked: pd.DataFrame) -> list[dict]:
    return [{'descriptor': str(name), **row} for name, row in ranked.to_dict(orient='index').items()]


def _draw(folder, report, correlations, ranked, ranked_by_family, pca, selected, scans, validations) -> dict:
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
        family: result['coefficient'] for family, result in ranked_by_family.items() if isinstance(result, pd.DataFrame)
    }
    if per_family and pd.DataFrame(per_family).notna().any().any():
        frame = pd.DataFrame(per_family).reindex(ranked['spearman'].index)
        draw('target_correlations_by_family', figures.plot_family_correlations, frame, target=target)
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


def _jsonable(value):
    """Plain JSON data: NaN and inf as null, numpy scalars and arrays as Python ones, tuples as lists."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------------------------------ HTML


def _number(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '–'
    if isinstance(value, bool | np.bool_):
        return 'yes' if value else 'no'
    if isinstance(value, int | np.integer):
        return str(value)
    if isinstance(value, float | np.floating):
        return f'{value:.{digits}g}'
    return html.escape(str(value))


def _table(header: list[str], rows: list[list]) -> str:
    head = ''.join(f'<th>{html.escape(name)}</th>' for name in header)
    body = ''.join('<tr>' + ''.join(f'<td>{_number(cell)}</td>' for cell in row) + '</tr>' for row in rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(report: dict, name: str) -> str:
    file_name = report['figures'].get(name)
    if not file_name:
        return ''
    caption = html.escape(FIGURES[name])
    link = html.escape(file_name)
    return (
        f'<figure><img src="{link}" alt="{caption}">'
        f'<figcaption>{caption} (<a href="{link}">{link}</a>)</figcaption></figure>'
    )


#: Marks every figure as loaded or not once the page has loaded, and warns when one is missing
#: (e.g. index.html copied without its PNG files). No external resource.
_IMAGE_CHECK = """<script>
window.addEventListener('load', function () {
  var missing = [];
  document.querySelectorAll('img').forEach(function (image) {
    var ok = image.complete && image.naturalWidth > 0;
    image.setAttribute('data-loaded', ok ? 'true' : 'false');
    if (!ok) { missing.push(image.getAttribute('src')); }
  });
  var banner = document.getElementById('missing-figures');
  if (missing.length) {
    banner.textContent = 'Figures that did not load: ' + missing.join(', ');
    banner.hidden = false;
  }
  document.body.setAttribute('data-figures-checked', String(missing.length));
});
</script>"""

_STYLE = """<style>
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.2em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.warning { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.6em; }
code { background: #f4f4f4; padding: 0 0.2em; }
</style>"""


def render_html(report: dict) -> str:
    """``index.html`` of a report: key numbers as tables and every figure (relative paths, nothing external)."""
    report = _jsonable(report)
    sections = [
        _html_summary(report),
        _html_selection(report),
        _html_target(report),
        _html_pca(report),
        _html_clusters(report),
        _html_ml(report),
    ]
    return '\n'.join(
        [
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            '<title>aiida-superionic analysis report</title>',
            _STYLE,
            '</head><body>',
            '<h1>Descriptor analysis</h1>',
            '<p id="missing-figures" class="warning" hidden></p>',
            *sections,
            _IMAGE_CHECK,
            '</body></html>',
        ]
    )


def _listed(names) -> str:
    return html.escape(', '.join(names) or 'none')


def _html_summary(report: dict) -> str:
    table = report['table']
    source = html.escape(str(report.get('source') or 'a table in memory'))
    parts = [
        f'<p>Source: <code>{source}</code>. {table["rows"]} rows, {table["materials"]} materials. '
        'Every number is in <a href="report.json">report.json</a>.</p>'
    ]
    pairs = _listed(f'{engine} / {model}' for engine, model in table['engine_model_pairs'])
    if table['mixed_engines_or_models']:
        parts.append(
            f'<p class="warning"><strong>Mixed engines or models</strong> ({pairs}): the rows were pooled because '
            'mixing was explicitly allowed. Correlations and models below mix them.</p>'
        )
    else:
        parts.append(f'<p>Engine / model: {pairs}.</p>')
    parts.append(_table(['family', 'rows'], [[family, rows] for family, rows in table['rows_per_family'].items()]))
    return '\n'.join(parts)


def _html_selection(report: dict) -> str:
    selection, settings, nan = report['selection'], report['settings'], report['nan_policy']
    mixed = report['table']['mixed_engines_or_models']

    def describe(item: dict) -> str:
        composition = 'stoichiometric' if item['stoichiometric'] else 'vacancies'
        source = f', {item["engine"]}/{item["model"]}' if mixed else ''
        return f'{item["formula"]} ({composition}{source})'

    left_out = _listed(describe(item) for item in selection['left_out'])
    centre, window = selection['temperature_K'], selection['window_K']
    spearman = report['correlations']['all']['spearman']
    imputed = _listed(f'{key} = {value:.4g}' for key, value in nan.get('imputed_medians', {}).items())
    return '\n'.join(
        [
            '<h2>Selection</h2>',
            f'<p>T = {centre:g} ± {window:g} K, one row per material and composition (the closest to {centre:g} K): '
            f'{selection["rows_selected"]} rows of {selection["materials_selected"]} materials. '
            f'Left out (no row in the window): {left_out}.</p>',
            '<h2>NaN policy</h2>',
            f'<p>Correlations: {html.escape(report["correlations"]["nan_policy"])} '
            f'(min_rows = {settings["min_rows"]}). Spearman pairs without a coefficient: '
            f'{len(spearman["too_few_rows"])} with too few rows, {len(spearman["constant"])} with a constant '
            'descriptor (listed in report.json).</p>',
            f'<p>PCA, k-means: <code>{html.escape(nan["nan_policy"])}</code>. '
            f'Dropped for NaN: {_listed(nan.get("dropped_for_nan", []))}. Imputed (median): {imputed}. '
            f'Dropped as constant: {_listed(nan.get("dropped_constant", []))}.</p>',
        ]
    )


def _html_target(report: dict) -> str:
    target = report['target_correlations']
    columns = ['coefficient', 'p_value', 'p_fdr', 'ci_low', 'ci_high', 'n_rows', 'significant']
    rows = [
        [row['descriptor'], row['category'], *(row[column] for column in columns)]
        for row in target['all']['spearman']
        if row['coefficient'] is not None
    ]
    return '\n'.join(
        [
            f'<h2>Correlations with <code>{html.escape(target["target"])}</code></h2>',
            f'<p>Significant: p &lt; {target["p_cut"]:g} (unadjusted, as the paper); p<sub>FDR</sub>: '
            f'Benjamini–Hochberg; 95 % bootstrap intervals from {target["bootstrap"]["resamples"]} resamples.</p>',
            _figure(report, 'target_correlations'),
            _table(
                ['descriptor', 'category', 'Spearman ρ', 'p', 'p FDR', '95 % low', '95 % high', 'rows', 'p < cut'], rows
            ),
            _figure(report, 'target_correlations_pearson'),
            _figure(report, 'target_correlations_by_family'),
            '<h2>Correlation matrices</h2>',
            _figure(report, 'correlogram_spearman'),
            _figure(report, 'p_values_spearman'),
            _figure(report, 'correlogram_pearson'),
        ]
    )


def _html_pca(report: dict) -> str:
    pca = report['pca']
    if 'skipped' in pca:
        return f'<h2>Principal components</h2><p>Skipped: {html.escape(pca["skipped"])}</p>'
    categories = list(figures.CATEGORY_COLOURS)
    rows = [
        [
            component,
            100 * pca['explained_variance_ratio'][index],
            100 * pca['cumulative_explained_variance'][index],
            pca['dominant_category'][component],
            *(pca['category_weights'][component].get(category) for category in categories),
        ]
        for index, component in enumerate(list(pca['dominant_category'])[:6])
    ]
    header = ['component', 'variance (%)', 'cumulative (%)', 'dominant category', *categories]
    return '\n'.join(
        [
            '<h2>Principal components</h2>',
            "<p>Category columns: sum of the squared loadings of that category's descriptors.</p>",
            _table(header, rows),
            _figure(report, 'scree'),
            _figure(report, 'biplot'),
        ]
    )


def _html_clusters(report: dict) -> str:
    clusters = report['clusters']
    if 'skipped' in clusters:
        return f'<h2>Classes (k-means in PC space)</h2><p>Skipped: {html.escape(clusters["skipped"])}</p>'
    parts = ['<h2>Classes (k-means in PC space)</h2>', _figure(report, 'elbow_silhouette')]
    for name, scan in clusters.items():
        composition = scan['composition_by_mobile_species']
        species = sorted({name for counts in composition.values() for name in counts})
        space = '–'.join(scan['components'])
        parts += [
            f'<h3>{space}: k = {scan["chosen_k"]} ({html.escape(scan["chosen_by"])}; '
            f'elbow reading {scan["elbow_k"]})</h3>',
            _table(
                ['cluster', *species],
                [[cluster, *(counts.get(s, 0) for s in species)] for cluster, counts in composition.items()],
            ),
            _figure(report, f'clusters_{name}'),
        ]
    return '\n'.join(parts)


def _html_ml(report: dict) -> str:
    ml = report['ml']
    if 'skipped' in ml:
        return f'<h2>Machine learning</h2><p>Skipped: {html.escape(ml["skipped"])}</p>'
    first = ml['validations'][0]
    header = ['model', 'inputs', 'MAPE train (%)', 'MAPE test (%)', 'MAE test', 'R² test', 'inputs used']
    rows = [
        [
            'MLP' if validation['model'] == 'mlp' else 'kernel ridge (linear)',
            validation['feature_set'],
            _percent(validation['train']['mape']),
            _percent(validation['test']['mape']),
            validation['test']['mae'],
            validation['test']['r2'],
            len(validation['numeric_inputs']) + len(validation['categorical_inputs']),
        ]
        for validation in ml['validations']
    ]
    not_converged = sum(validation['not_converged_folds'] for validation in ml['validations'])
    return '\n'.join(
        [
            '<h2>Machine learning</h2>',
            f'<p>Target <code>{html.escape(first["fitted_target"])}</code>, {first["rows_used"]} rows (all '
            f'temperatures and compositions), {html.escape(first["fold_kind"])} ({first["folds"]} folds). '
            f'{html.escape(ml["note"])}.</p>',
            _table(header, rows),
            f'<p>MLP folds that stopped at max_iter = {report["settings"]["max_iter"]} without converging: '
            f'{not_converged}.</p>'
            if not_converged
            else '',
            _figure(report, 'parity'),
        ]
    )


def _percent(value):
    return None if value is None or not math.isfinite(value) else 100 * value
