"""``index.html`` of an analysis report: the key numbers as tables and every figure (relative paths, nothing external).

Renders the content of ``report.json`` (:func:`.report.write_report`); pure Python.
"""

from __future__ import annotations

import html
import math

import numpy as np

from . import figures
from .labels import describe
from .ml import MODEL_NAMES
from .selection import describe_selection

#: Figure files of a report, and what they show.
FIGURES = {
    'correlogram_spearman': 'Spearman correlation matrix, all selected rows',
    'correlogram_pearson': 'Pearson correlation matrix, all selected rows',
    'p_values_spearman': 'p-values of the Spearman matrix (dots: p below the cut)',
    'target_correlations': "The target's ranked Spearman correlations (paper Fig. 2 b/c)",
    'target_correlations_pearson': "The target's ranked Pearson correlations",
    'target_correlations_by_family': "The target's Spearman correlations per group (family by default)",
    'scree': 'Explained variance of the principal components',
    'biplot': 'PC1–PC2 biplot',
    'elbow_silhouette': 'k-means: elbow and silhouette',
    'clusters_2d': 'k-means clusters in PC1–PC2',
    'clusters_3d': 'k-means clusters in PC1–PC2–PC3',
    'parity': 'ML parity plots: training and held-out predictions',
}


def jsonable(value):
    """Plain JSON data: NaN and inf as null, numpy scalars and arrays as Python ones, tuples as lists."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
    report = jsonable(report)
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

    def material(item: dict) -> str:
        composition = 'stoichiometric' if item['stoichiometric'] else 'vacancies'
        source = f', {item["engine"]}/{item["model"]}' if mixed else ''
        return f'{item["formula"]} ({composition}{source})'

    spearman = report['correlations']['all']['spearman']
    imputed = _listed(f'{key} = {value:.4g}' for key, value in nan.get('imputed_medians', {}).items())
    chosen = f'<p>{html.escape(selection["rule"])}: {html.escape(describe_selection(selection))}.'
    if selection['mode'] != 'all rows':
        chosen += f' Materials with no row in the window: {_listed(material(item) for item in selection["left_out"])}.'
    chosen += '</p>'
    if selection['mode'] != 'all rows' and selection['merged']:
        rows = [
            [
                item['formula'],
                item['temperature_K'],
                len(item['rows']),
                *(_spread(item['spread'].get(settings['target'])) or ['–']),
            ]
            for item in selection['merged']
        ]
        chosen += _table(['material', 'T (K)', 'rows merged', f'spread of {settings["target"]}'], rows)
    return '\n'.join(
        [
            '<h2>Which rows, and which were left out</h2>',
            _html_flagged(report['flagged']),
            chosen,
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


def _spread(spread: dict | None) -> list | None:
    if not spread:
        return None
    decades = f', {spread["decades"]:.2g} decades' if spread.get('decades') is not None else ''
    return [f'{spread["min"]:.3g} … {spread["max"]:.3g}{decades}']


def _html_flagged(flagged: dict) -> str:
    if not flagged['rows_flagged']:
        without = flagged['rows_without_verdict']
        return f'<p>No row has a flagged D ({without} rows have no verdict and are taken as given).</p>'
    state = (
        '<strong>They are included</strong> (<code>--include-flagged</code>): read every result with D with care.'
        if flagged['include_flagged']
        else 'Their D is left out of the correlations, the PCA, k-means and the models (as a missing value); '
        '<code>--include-flagged</code> puts it back.'
    )
    rows = [
        [item['formula'], item['temperature_K'], item['stoichiometric'], item['diffusivity_verdict'], item['reason']]
        for item in flagged['flagged']
    ]
    return '\n'.join(
        [
            f'<p class="warning">{flagged["rows_flagged"]} rows have a flagged D (a diffusivity verdict other than '
            f'<code>diffusive</code>). {state}</p>',
            _table(['material', 'T (K)', 'stoichiometric', 'verdict', 'why'], rows),
        ]
    )


def _html_target(report: dict) -> str:
    target = report['target_correlations']
    columns = ['coefficient', 'p_value', 'p_fdr', 'ci_low', 'ci_high', 'n_rows', 'significant']
    rows = [
        [describe(row['descriptor']), row['category'], *(row[column] for column in columns)]
        for row in target['all']['spearman']
        if row['coefficient'] is not None
    ]
    categorical = [
        [item['category'], item.get('statistic'), item.get('p_value'), item.get('epsilon_squared'), item['groups']]
        for item in target['categorical']
    ]
    return '\n'.join(
        [
            f'<h2>Correlations with {html.escape(describe(target["target"]))}</h2>',
            f'<p>Significant: p &lt; {target["p_cut"]:g} (unadjusted, as the paper); p<sub>FDR</sub>: '
            f'Benjamini–Hochberg; 95 % bootstrap intervals from {target["bootstrap"]["resamples"]} resamples.</p>',
            _figure(report, 'target_correlations'),
            _table(
                ['descriptor', 'category', 'Spearman ρ', 'p', 'p FDR', '95 % low', '95 % high', 'rows', 'p < cut'], rows
            ),
            '<p>The space group is a category, not a number: Kruskal–Wallis test of the target across the space groups '
            '(ε²: effect size, 0–1).</p>' + _table(['category', 'H', 'p', 'ε²', 'groups'], categorical)
            if categorical
            else '',
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
        by_group = scan.get('composition_by_group', {})
        groups = sorted({name for counts in by_group.values() for name in counts})
        parts += [
            f'<h3>{space}: k = {scan["chosen_k"]} ({html.escape(scan["chosen_by"])}; '
            f'elbow reading {scan["elbow_k"]})</h3>',
            '<p>Rows per cluster and mobile species:</p>',
            _table(
                ['cluster', *species],
                [[cluster, *(counts.get(s, 0) for s in species)] for cluster, counts in composition.items()],
            ),
            f'<p>Rows per cluster and {html.escape(report["settings"]["group_by"])}:</p>',
            _table(
                ['cluster', *groups],
                [[cluster, *(counts.get(g, 0) for g in groups)] for cluster, counts in by_group.items()],
            ),
            _figure(report, f'clusters_{name}'),
        ]
    return '\n'.join(parts)


def _html_ml(report: dict) -> str:
    ml = report['ml']
    if 'skipped' in ml:
        return f'<h2>Machine learning</h2><p>Skipped: {html.escape(ml["skipped"])}</p>'
    first = ml['validations'][0]
    unit = 'decades' if first['log_target'] else 'target units'
    header = [
        'model',
        'inputs',
        'MAPE train (%)',
        'MAPE test (%)',
        f'MAE test ({unit})',
        f'RMSE test ({unit})',
        'R² test',
        'inputs used',
    ]
    rows = [
        [
            MODEL_NAMES.get(validation['model'], validation['model']),
            validation['feature_set'],
            _percent(validation['train']['mape']),
            _percent(validation['test']['mape']),
            validation['test']['mae'],
            validation['test']['rmse'],
            validation['test']['r2'],
            len(validation['numeric_inputs']) + len(validation['categorical_inputs']),
        ]
        for validation in ml['validations']
    ]
    same = ml.get('same_inputs', {})
    not_trained = ml.get('feature_sets_not_trained', {})
    not_converged = sum(validation['not_converged_folds'] for validation in ml['validations'])
    return '\n'.join(
        [
            '<h2>Machine learning</h2>',
            f'<p>Target <code>{html.escape(first["fitted_target"])}</code>, {first["rows_used"]} rows (all '
            f'temperatures and compositions), {html.escape(first["fold_kind"])} ({first["folds"]} folds). '
            f'{html.escape(ml["note"])}.'
            + (f' Rows left out for a flagged D: {ml["rows_left_out_flagged"]}.' if ml['rows_left_out_flagged'] else '')
            + '</p>',
            _table(header, rows),
            '<p>Trained once: '
            + _listed(f'{name} (the same inputs as {other})' for name, other in same.items())
            + '.</p>'
            if same
            else '',
            '<p class="warning">Feature sets not trained: '
            + _listed(f'{name} ({why})' for name, why in not_trained.items())
            + '.</p>'
            if not_trained
            else '',
            f'<p>MLP folds that stopped at max_iter = {report["settings"]["max_iter"]} without converging: '
            f'{not_converged}.</p>'
            if not_converged
            else '',
            _figure(report, 'parity'),
        ]
    )


def _percent(value):
    return None if value is None or not math.isfinite(value) else 100 * value
