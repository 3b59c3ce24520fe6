"""Figures of the statistics and models, for a paper (matplotlib, non-interactive Agg backend, PNG at 200 dpi).

Every function takes the results of :mod:`.statistics`, :mod:`.classes` or :mod:`.ml` and a path,
writes one figure and returns the path. Descriptors are labelled by the paper's symbols with their
units (:mod:`.labels`, e.g. ``D (cm²/s)``); tick labels are coloured by descriptor category
(mechanical–elastic, diffusive–vibrational, structural–compositional). A positive quantity that
spans more than two decades is drawn on a log axis.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

from ..descriptors.keys import DESCRIPTOR_CATEGORIES
from .labels import label
from .ml import MODEL_NAMES

DPI = 200
CATEGORY_COLOURS = {
    'mechanical-elastic': '#1b6ca8',
    'diffusive-vibrational': '#c0392b',
    'structural-compositional': '#2e8b57',
}
#: Fixed colours of the mobile species, so that every figure of a report agrees.
SPECIES_ORDER = ('Li', 'Na', 'Ag', 'Cu', 'F', 'Cl', 'Br', 'I', 'O')
CLUSTER_MARKERS = 'os^Dv<>pPX*h'


def _pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path) -> pathlib.Path:
    path = pathlib.Path(path)
    figure.savefig(path, dpi=DPI)
    _pyplot().close(figure)
    return path


def species_colours(species) -> dict[str, tuple]:
    """A colour per mobile species: the usual ones in a fixed order, others after them."""
    import matplotlib

    palette = matplotlib.colormaps['tab10'].colors
    known = [name for name in SPECIES_ORDER if name in set(species)]
    others = sorted(set(species) - set(SPECIES_ORDER))
    return {name: palette[index % len(palette)] for index, name in enumerate(known + others)}


#: A positive quantity spanning more decades than this is drawn on a log axis.
LOG_AXIS_DECADES = 2.0


def category_colour(name: str) -> str:
    """The colour of a descriptor's category (a one-hot ``space_group=...`` column: its descriptor's)."""
    return CATEGORY_COLOURS.get(DESCRIPTOR_CATEGORIES.get(name.split('=', maxsplit=1)[0], ''), 'black')


def spans_decades(values) -> bool:
    """Whether ``values`` are all positive and span more than ``LOG_AXIS_DECADES`` decades."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return values.size > 1 and (values > 0).all() and np.log10(values.max() / values.min()) > LOG_AXIS_DECADES


def _colour_tick_labels(tick_labels, names) -> None:
    for tick, name in zip(tick_labels, names, strict=False):
        tick.set_color(category_colour(name))


def _category_legend(axes, **options) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, label=category) for category, colour in CATEGORY_COLOURS.items()]
    axes.legend(handles=handles, frameon=False, fontsize='small', **options)


def has_off_diagonal(matrix: pd.DataFrame) -> bool:
    """Whether a correlation matrix has any coefficient between two different descriptors."""
    return not _shown(matrix).empty


def _shown(matrix: pd.DataFrame) -> pd.DataFrame:
    """The descriptors with at least one coefficient off the diagonal (all-NaN rows would only be grey)."""
    values = matrix.to_numpy(copy=True)
    np.fill_diagonal(values, np.nan)
    keep = ~np.isnan(values).all(axis=0)
    return matrix.loc[keep, keep]


def plot_correlogram(coefficient: pd.DataFrame, path, title: str) -> pathlib.Path:
    """Heat map of a correlation matrix (−1 blue … +1 red); NaN (too few rows, constant) grey.

    Descriptors with no coefficient at all are left out of the figure (they are listed in report.json).
    """
    plt = _pyplot()
    import matplotlib

    shown = _shown(coefficient)
    size = len(shown)
    figure, axes = plt.subplots(figsize=(4 + 0.16 * size, 3 + 0.16 * size), layout='constrained')
    colours = matplotlib.colormaps['RdBu_r'].copy()
    colours.set_bad('#d9d9d9')
    image = axes.imshow(np.ma.masked_invalid(shown.to_numpy()), cmap=colours, vmin=-1, vmax=1, interpolation='none')
    _label_square(axes, shown.columns)
    figure.colorbar(image, ax=axes, shrink=0.6, label='correlation coefficient')
    axes.set_title(title, fontsize='medium')
    return _save(figure, path)


def plot_p_values(p_value: pd.DataFrame, path, title: str, p_cut: float) -> pathlib.Path:
    """Heat map of the p-values (log scale); a dot marks each pair with p < ``p_cut``; NaN grey."""
    plt = _pyplot()
    import matplotlib
    from matplotlib.colors import LogNorm

    shown = _shown(p_value)
    size = len(shown)
    values = shown.to_numpy(copy=True)
    np.fill_diagonal(values, np.nan)
    floor = 1e-12
    figure, axes = plt.subplots(figsize=(4 + 0.16 * size, 3 + 0.16 * size), layout='constrained')
    colours = matplotlib.colormaps['viridis'].copy()
    colours.set_bad('#d9d9d9')
    image = axes.imshow(
        np.ma.masked_invalid(np.clip(values, floor, 1.0)),
        cmap=colours,
        norm=LogNorm(vmin=floor, vmax=1.0),
        interpolation='none',
    )
    rows, columns = np.nonzero(values < p_cut)
    axes.scatter(columns, rows, s=2.5, color='white', linewidths=0, label=f'p < {p_cut:g}')
    _label_square(axes, shown.columns)
    figure.colorbar(image, ax=axes, shrink=0.6, label='p-value (two-sided)')
    axes.legend(loc='upper right', bbox_to_anchor=(1.0, 1.06), frameon=False, fontsize='small')
    axes.set_title(title, fontsize='medium')
    return _save(figure, path)


def _label_square(axes, names) -> None:
    ticks = np.arange(len(names))
    texts = [label(name) for name in names]
    axes.set_xticks(ticks, texts, rotation=90, fontsize=5.5)
    axes.set_yticks(ticks, texts, fontsize=5.5)
    _colour_tick_labels(axes.get_xticklabels(), names)
    _colour_tick_labels(axes.get_yticklabels(), names)


def plot_ranked_correlations(ranked: pd.DataFrame, path, target: str, p_cut: float, title: str) -> pathlib.Path:
    """Bars of the target's correlation with each descriptor, strongest on top, with bootstrap 95 % intervals.

    Bars with p < ``p_cut`` are coloured by category, the others grey; a dashed line marks where
    the ranking crosses the cut (with equal row counts, p falls as |coefficient| grows).
    """
    plt = _pyplot()
    ranked = ranked[ranked['coefficient'].notna()]
    count = len(ranked)
    figure, axes = plt.subplots(figsize=(6.5, 1.2 + 0.17 * max(count, 1)), layout='constrained')
    positions = np.arange(count)
    colours = [
        CATEGORY_COLOURS.get(category, 'black') if significant else '#bdbdbd'
        for category, significant in zip(ranked['category'], ranked['significant'], strict=True)
    ]
    errors = np.vstack(
        [
            (ranked['coefficient'] - ranked['ci_low']).clip(lower=0).fillna(0),
            (ranked['ci_high'] - ranked['coefficient']).clip(lower=0).fillna(0),
        ]
    )
    axes.barh(positions, ranked['coefficient'], color=colours, xerr=errors, error_kw={'lw': 0.6, 'capsize': 1.5})
    axes.set_yticks(positions, [label(name) for name in ranked.index], fontsize=6.5)
    _colour_tick_labels(axes.get_yticklabels(), ranked.index)
    axes.invert_yaxis()
    axes.axvline(0, color='black', lw=0.6)
    significant = ranked['significant'].to_numpy()
    if significant.any() and not significant.all():
        last = int(np.nonzero(significant)[0].max())
        axes.axhline(last + 0.5, color='black', ls='--', lw=0.8)
        axes.text(
            0.99, last + 0.35, f'p < {p_cut:g} above', transform=axes.get_yaxis_transform(), ha='right', fontsize=7
        )
    axes.set_xlim(-1.05, 1.05)
    axes.set_xlabel(f'correlation with {label(target)}\n(error bars: bootstrap 95 % interval; grey: p ≥ {p_cut:g})')
    _category_legend(axes, loc='lower right')
    axes.set_title(title, fontsize='medium')
    return _save(figure, path)


def plot_family_correlations(coefficients: pd.DataFrame, path, target: str, group: str = 'family') -> pathlib.Path:
    """Heat map of the target's correlation with each descriptor (rows) per group (columns); NaN grey."""
    plt = _pyplot()
    import matplotlib

    shown = coefficients.loc[coefficients.notna().any(axis=1)]
    figure, axes = plt.subplots(figsize=(2.5 + 0.9 * shown.shape[1], 1.5 + 0.15 * len(shown)), layout='constrained')
    colours = matplotlib.colormaps['RdBu_r'].copy()
    colours.set_bad('#d9d9d9')
    image = axes.imshow(np.ma.masked_invalid(shown.to_numpy(dtype=float)), cmap=colours, vmin=-1, vmax=1, aspect='auto')
    axes.set_xticks(np.arange(shown.shape[1]), shown.columns, rotation=30, ha='right', fontsize=8)
    axes.set_yticks(np.arange(len(shown)), [label(name) for name in shown.index], fontsize=6)
    _colour_tick_labels(axes.get_yticklabels(), shown.index)
    figure.colorbar(image, ax=axes, shrink=0.5, label=f'Spearman ρ with {label(target)}')
    axes.set_title(f'Per {group.replace("mobile_family", "family")}', fontsize='medium')
    return _save(figure, path)


def plot_scree(explained_variance_ratio, path) -> pathlib.Path:
    """Explained variance of each principal component (bars) and its running total (line), in %."""
    plt = _pyplot()
    ratio = np.asarray(explained_variance_ratio) * 100
    components = np.arange(1, ratio.size + 1)
    figure, axes = plt.subplots(figsize=(6, 3.8), layout='constrained')
    axes.bar(components, ratio, color='#4c72b0', label='per component')
    axes.plot(components, np.cumsum(ratio), 'o-', color='#dd8452', ms=3, label='cumulative')
    axes.set_xlabel('principal component')
    axes.set_ylabel('explained variance (%)')
    axes.set_ylim(0, 102)
    axes.set_xlim(0.4, min(ratio.size, 30) + 0.6)
    axes.legend(frameon=False)
    axes.set_title('Scree plot (standardised descriptors)', fontsize='medium')
    return _save(figure, path)


def plot_biplot(scores: pd.DataFrame, loadings: pd.DataFrame, species: pd.Series, explained, path, arrows: int = 10):
    """PC1–PC2 scores coloured by mobile species, with the ``arrows`` longest loading vectors (scaled to the scores)."""
    plt = _pyplot()
    colours = species_colours(species)
    figure, axes = plt.subplots(figsize=(6.5, 5.5), layout='constrained')
    for name, colour in colours.items():
        chosen = species.loc[scores.index] == name
        axes.scatter(scores.loc[chosen, 'PC1'], scores.loc[chosen, 'PC2'], s=14, color=colour, label=name)
    vectors = loadings.loc[:, ['PC1', 'PC2']]
    longest = (vectors**2).sum(axis=1).sort_values(ascending=False).index[:arrows]
    reach = np.abs(scores.loc[:, ['PC1', 'PC2']].to_numpy()).max()
    scale = 0.9 * reach / max(np.sqrt((vectors.loc[longest] ** 2).sum(axis=1)).max(), 1e-12)
    for name in longest:
        x, y = vectors.loc[name] * scale
        colour = category_colour(name)
        axes.annotate('', xy=(x, y), xytext=(0, 0), arrowprops={'arrowstyle': '->', 'color': colour, 'lw': 0.8})
        # Clipped to the axes: a label near the edge never runs over the title (which is the figure's, above).
        axes.text(x * 1.05, y * 1.05, label(name), fontsize=6, color=colour, ha='center', va='center', clip_on=True)
    axes.axhline(0, color='grey', lw=0.4)
    axes.axvline(0, color='grey', lw=0.4)
    axes.set_xlabel(f'PC1 ({100 * explained[0]:.1f} %)')
    axes.set_ylabel(f'PC2 ({100 * explained[1]:.1f} %)')
    axes.legend(frameon=False, fontsize='small', title='mobile species')
    axes.margins(0.12)
    figure.suptitle('Biplot: scores and the longest loadings', fontsize='medium')
    return _save(figure, path)


def plot_elbow_silhouette(scans, path) -> pathlib.Path:
    """Inertia (elbow) and mean silhouette against k, one line per PC space; the chosen k marked."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), layout='constrained')
    for scan, colour in zip(scans, ('#4c72b0', '#dd8452', '#55a868'), strict=False):
        label = '–'.join(f'PC{index + 1}' for index in range(scan.dimensions))
        left.plot(scan.k_values, scan.inertia, 'o-', color=colour, ms=3, label=label)
        right.plot(scan.k_values, scan.silhouette, 'o-', color=colour, ms=3, label=label)
        if scan.chosen_k in scan.k_values:
            index = scan.k_values.index(scan.chosen_k)
            right.plot(scan.chosen_k, scan.silhouette[index], '*', color=colour, ms=12)
            left.plot(scan.chosen_k, scan.inertia[index], '*', color=colour, ms=12)
    left.set_xlabel('k')
    left.set_ylabel('inertia (standardised PC units²)')
    left.set_title('Elbow', fontsize='medium')
    right.set_xlabel('k')
    right.set_ylabel('mean silhouette')
    right.set_title('Silhouette (★: chosen k)', fontsize='medium')
    left.legend(frameon=False)
    return _save(figure, path)


def plot_clusters(scores: pd.DataFrame, labels: pd.Series, species: pd.Series, path, dimensions: int = 2):
    """The rows in PC1–PC2 (or PC1–PC2–PC3) coloured by mobile species, one marker per k-means cluster."""
    plt = _pyplot()
    colours = species_colours(species)
    figure = plt.figure(figsize=(6.5, 5.5), layout='constrained')
    axes = figure.add_subplot(projection='3d' if dimensions == 3 else None)
    axis_names = [f'PC{index + 1}' for index in range(dimensions)]
    for cluster in sorted(labels.unique()):
        marker = CLUSTER_MARKERS[int(cluster) % len(CLUSTER_MARKERS)]
        for name, colour in colours.items():
            chosen = (labels == cluster) & (species.loc[labels.index] == name)
            if chosen.any():
                points = [scores.loc[chosen.to_numpy(), axis] for axis in axis_names]
                axes.scatter(*points, s=16, marker=marker, color=colour)
    for name, colour in colours.items():
        axes.scatter([], [], color=colour, marker='o', label=name)
    for cluster in sorted(labels.unique()):
        axes.scatter(
            [],
            [],
            color='grey',
            marker=CLUSTER_MARKERS[int(cluster) % len(CLUSTER_MARKERS)],
            label=f'cluster {cluster}',
        )
    axes.set_xlabel('PC1')
    axes.set_ylabel('PC2')
    if dimensions == 3:
        axes.set_zlabel('PC3')
    axes.legend(frameon=False, fontsize='x-small', ncol=2, loc='best')
    axes.set_title(f'k-means in {"–".join(axis_names)}: {labels.nunique()} clusters', fontsize='medium')
    return _save(figure, path)


def plot_parity(validations, path) -> pathlib.Path:
    """Predicted against true target: training (grey) and held-out (red) rows, a panel per model and input set."""
    plt = _pyplot()
    count = len(validations)
    columns = 2 if count > 1 else 1
    rows = int(np.ceil(count / columns))
    figure, axes_grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.0 * rows), layout='constrained')
    axes_list = np.atleast_1d(axes_grid).ravel()
    for axes, validation in zip(axes_list, validations, strict=False):
        predictions = validation.predictions
        train = predictions[predictions['side'] == 'train']
        test = predictions[predictions['side'] == 'test']
        axes.scatter(train['true'], train['predicted'], s=3, color='#bdbdbd', alpha=0.5, label='training', lw=0)
        axes.scatter(test['true'], test['predicted'], s=10, color='#c0392b', label='held out', lw=0)
        low = float(np.nanmin([predictions['true'].min(), predictions['predicted'].min()]))
        high = float(np.nanmax([predictions['true'].max(), predictions['predicted'].max()]))
        axes.plot([low, high], [low, high], color='black', lw=0.8)
        if spans_decades(np.concatenate([predictions['true'], predictions['predicted']])):
            axes.set_xscale('log')
            axes.set_yscale('log')
        target = label(validation.target)
        fitted = f'log₁₀ {target}' if validation.log_target else target
        axes.set_xlabel(f'true {fitted}', fontsize=8)
        axes.set_ylabel(f'predicted {fitted}', fontsize=8)
        axes.set_title(f'{MODEL_NAMES.get(validation.model, validation.model)}, {validation.feature_set}', fontsize=9)
        unit = ' decades' if validation.log_target else ''
        axes.text(
            0.03,
            0.97,
            f'MAE test {validation.test["mae"]:.3g}{unit}\nRMSE test {validation.test["rmse"]:.3g}{unit}\n'
            f'MAPE test {100 * validation.test["mape"]:.1f} %\nR² test {validation.test["r2"]:.2f}',
            transform=axes.transAxes,
            va='top',
            fontsize=7,
        )
        axes.legend(frameon=False, fontsize=7, loc='lower right')
    for axes in axes_list[count:]:
        axes.set_visible(False)
    return _save(figure, path)
