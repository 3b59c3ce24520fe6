"""The paper's statistics on the descriptor table: the 500 ± 100 K selection, correlations, PCA.

Pure numpy/scipy/pandas/scikit-learn on a table of :mod:`aiida_superionic.analysis.table`.

**NaN policy.** A descriptor an engine cannot give is NaN, never zero, and is handled in one of
two stated ways:

* correlations use, for each pair of descriptors, the rows where both are present ("pairwise
  complete"); a pair with fewer than ``MIN_COMPLETE_ROWS`` such rows, or with a descriptor that is
  constant on them, has no coefficient (NaN) and is listed, never guessed;
* PCA, k-means and the ML models need complete rows, and use :func:`prepare_descriptors`:
  ``nan_policy='drop_columns'`` (the default) drops every descriptor with a NaN in the rows
  analysed; ``'impute'`` replaces NaN by the descriptor's median over those rows (the medians are
  recorded). Either way, constant descriptors are then dropped (they have no variance to
  standardise). What was dropped or imputed is returned, and written into the report.

**Categorical descriptors.** ``space_group`` is a category, not an ordinal number: it is left
out of the correlation matrices and tested instead with Kruskal–Wallis (:func:`categorical_associations`:
does a numeric column differ between the space groups? H, p and the effect size ε² = (H − k + 1)/(n − k));
in the PCA it enters one-hot (a 0/1 column ``space_group=<number>`` per group present,
:func:`with_one_hot`). ``stoichiometric`` has two values: as 1/0 it is its own one-hot column, and
its Spearman/Pearson coefficients are the rank-biserial/point-biserial correlations, the right
tests for a binary variable. The ML one-hot encodes both (:mod:`.ml`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

from ..descriptors.keys import DESCRIPTOR_CATEGORIES, DESCRIPTOR_KEYS
from .selection import EmptySelectionError, select_rows
from .table import check_single_source

#: The paper's selection for correlations, PCA and k-means: T = 500 ± 100 K (K).
PAPER_TEMPERATURE_K = 500.0
PAPER_WINDOW_K = 100.0

#: Fewest rows with both descriptors present for a correlation coefficient (fewer: NaN, listed).
MIN_COMPLETE_ROWS = 5

#: The paper calls a correlation significant when p < 0.2.
SIGNIFICANCE_P = 0.2

NAN_POLICIES = ('drop_columns', 'impute')
CORRELATION_METHODS = ('spearman', 'pearson')

#: The default target of the ranked correlations and the ML: the tracer diffusion coefficient (cm²/s).
DIFFUSION_KEY = 'diffusion_coefficient_cm2_s'


# ------------------------------------------------------------------------------------------------ selection


def select_near_temperature(
    table: pd.DataFrame,
    temperature_K: float = PAPER_TEMPERATURE_K,
    window_K: float = PAPER_WINDOW_K,
    allow_mixed: bool = False,
) -> pd.DataFrame:
    """The paper's selection: one row per material (``formula``) and composition (``stoichiometric``).

    The row at the temperature closest to ``temperature_K`` within ``± window_K``; a tie between a
    lower and a higher temperature: the lower; several rows at that temperature: their median
    (:func:`.selection.select_rows`, which also says what it set aside). A material and
    composition with no row in the window is left out; no row at all gives an empty table.

    :raises MixedSourcesError: for several (engine, model) pairs without ``allow_mixed``.
    """
    try:
        return select_rows(table, temperature_K, window_K, allow_mixed=allow_mixed)[0]
    except EmptySelectionError:
        check_single_source(table, allow_mixed)
        return table.iloc[:0]


# ------------------------------------------------------------------------------------------------ matrices


#: Categorical descriptors with more than two values: no coefficient of correlation, a Kruskal–Wallis test instead.
MULTI_CATEGORY_KEYS = ('space_group',)

#: The columns of the correlation matrices: the 54 descriptors but the multi-valued categories.
CORRELATION_KEYS = tuple(key for key in DESCRIPTOR_KEYS if key not in MULTI_CATEGORY_KEYS)


def descriptor_matrix(table: pd.DataFrame, columns=CORRELATION_KEYS) -> pd.DataFrame:
    """The columns as float64 (``stoichiometric`` as 1/0); by default the descriptors of the correlations."""
    return table.loc[:, list(columns)].astype('float64')


def with_one_hot(table: pd.DataFrame, columns=MULTI_CATEGORY_KEYS) -> tuple[pd.DataFrame, list[str]]:
    """The table with a 0/1 column ``<column>=<value>`` per value of each categorical column; the new names.

    A row without a value has 0 in every one of them.
    """
    frame, names = table.copy(), []
    for column in columns:
        values = table[column]
        for value in sorted(values.dropna().unique()):
            label = f'{column}={int(value) if float(value).is_integer() else value}'
            frame[label] = (values == value).astype('float64')
            names.append(label)
    return frame, names


def categorical_associations(
    table: pd.DataFrame, columns, categories=MULTI_CATEGORY_KEYS, min_rows: int = MIN_COMPLETE_ROWS
) -> list[dict]:
    """Kruskal–Wallis test of each numeric column against each categorical one (scipy).

    :return: a record per (category, column): ``statistic`` (H), ``p_value``, ``epsilon_squared``
        (effect size, 0..1), ``groups``, ``n_rows``, or ``note`` when there is no test (fewer than
        ``min_rows`` rows, fewer than 2 groups with a value, or a constant column).
    """
    records = []
    for category in categories:
        for column in columns:
            present = table.loc[table[category].notna() & table[column].notna(), [category, column]]
            samples = [group[column].to_numpy(dtype=float) for _, group in present.groupby(category)]
            record = {'category': category, 'descriptor': column, 'groups': len(samples), 'n_rows': len(present)}
            if len(present) < min_rows or len(samples) < 2:
                record['note'] = 'too_few_rows' if len(present) < min_rows else 'one_group'
            elif np.ptp(present[column].to_numpy(dtype=float)) == 0:
                record['note'] = 'constant'
            else:
                result = stats.kruskal(*samples)
                n, k = len(present), len(samples)
                record['statistic'] = float(result.statistic)
                record['p_value'] = float(result.pvalue)
                record['epsilon_squared'] = float(max(result.statistic - k + 1, 0.0) / (n - k)) if n > k else None
            records.append(record)
    return sorted(records, key=lambda record: record.get('p_value', 2.0))


@dataclasses.dataclass
class PreparedDescriptors:
    """A complete (NaN-free), non-constant descriptor matrix and what was done to get it."""

    matrix: pd.DataFrame
    nan_policy: str
    dropped_for_nan: list[str]
    imputed_medians: dict[str, float]
    dropped_constant: list[str]

    def summary(self) -> dict:
        return {
            'nan_policy': self.nan_policy,
            'rows': len(self.matrix),
            'descriptors_used': list(self.matrix.columns),
            'dropped_for_nan': self.dropped_for_nan,
            'imputed_medians': self.imputed_medians,
            'dropped_constant': self.dropped_constant,
        }


def prepare_descriptors(table: pd.DataFrame, nan_policy: str = 'drop_columns', columns=None) -> PreparedDescriptors:
    """Apply the NaN policy (module docstring), then drop constant descriptors; list both.

    :param columns: the columns to use; by default the descriptors, ``space_group`` one-hot (:func:`with_one_hot`).
    :param nan_policy: ``'drop_columns'`` (descriptors with any NaN are dropped) or ``'impute'``
        (NaN replaced by the median over these rows; a descriptor with no value at all is dropped).
    :raises ValueError: for an unknown policy, or when no descriptor is left.
    """
    if columns is None:
        table, one_hot = with_one_hot(table)
        columns = [*CORRELATION_KEYS, *one_hot]
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f'nan_policy must be one of {NAN_POLICIES}, not {nan_policy!r}')
    matrix = descriptor_matrix(table, columns)
    has_nan = matrix.columns[matrix.isna().any()].tolist()
    imputed: dict[str, float] = {}
    if nan_policy == 'drop_columns':
        dropped_for_nan = has_nan
    else:
        dropped_for_nan = [column for column in has_nan if matrix[column].isna().all()]
        for column in has_nan:
            if column not in dropped_for_nan:
                imputed[column] = float(matrix[column].median())
        matrix = matrix.fillna(imputed)
    matrix = matrix.drop(columns=dropped_for_nan)
    constant = matrix.columns[matrix.nunique(dropna=False) <= 1].tolist()
    matrix = matrix.drop(columns=constant)
    if matrix.shape[1] == 0:
        raise ValueError(
            f'no descriptor is left after the NaN policy {nan_policy!r} (dropped for NaN: {dropped_for_nan}; '
            f'constant: {constant})'
        )
    return PreparedDescriptors(matrix, nan_policy, dropped_for_nan, imputed, constant)


# ------------------------------------------------------------------------------------------------ correlations


@dataclasses.dataclass
class CorrelationMatrix:
    """Pairwise-complete correlation coefficients, their two-sided p-values and row counts.

    ``too_few_rows`` lists the pairs with fewer than ``min_rows`` complete rows and
    ``constant`` the pairs where a descriptor does not vary over the complete rows: both NaN.
    """

    method: str
    coefficient: pd.DataFrame
    p_value: pd.DataFrame
    n_rows: pd.DataFrame
    min_rows: int
    too_few_rows: list[dict]
    constant: list[dict]

    def summary(self) -> dict:
        return {
            'method': self.method,
            'min_rows': self.min_rows,
            'coefficient': _frame_to_dict(self.coefficient),
            'p_value': _frame_to_dict(self.p_value),
            'n_rows': _frame_to_dict(self.n_rows),
            'too_few_rows': self.too_few_rows,
            'constant': self.constant,
        }


def _correlate(method: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """scipy's coefficient and two-sided p-value of one pair of complete, non-constant columns."""
    result = stats.spearmanr(x, y) if method == 'spearman' else stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def _pair_status(x: np.ndarray, y: np.ndarray, min_rows: int):
    """The complete rows of a pair, and why there is no coefficient (None when there is one)."""
    complete = np.isfinite(x) & np.isfinite(y)
    n = int(complete.sum())
    if n < min_rows:
        return complete, n, 'too_few_rows'
    xs, ys = x[complete], y[complete]
    if np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return complete, n, 'constant'
    return complete, n, None


def correlation_matrix(
    matrix: pd.DataFrame, method: str = 'spearman', min_rows: int = MIN_COMPLETE_ROWS
) -> CorrelationMatrix:
    """Spearman or Pearson coefficients and p-values of every pair of columns, pairwise complete.

    Each coefficient and p-value is scipy's (``scipy.stats.spearmanr``/``pearsonr``) on the rows
    where both columns are present. Columns without gaps are passed to scipy together (its
    vectorised forms, the same numbers as pair by pair); pairs with a gap, one at a time. The
    diagonal is 1 (p = 0) for a column with enough varying values.

    :param matrix: rows × descriptors, float, NaN for absent values.
    :param min_rows: fewest complete rows for a coefficient.
    """
    if method not in CORRELATION_METHODS:
        raise ValueError(f'method must be one of {CORRELATION_METHODS}, not {method!r}')
    columns = list(matrix.columns)
    values = matrix.to_numpy(dtype=float)
    size = len(columns)
    coefficient = np.full((size, size), np.nan)
    p_value = np.full((size, size), np.nan)
    n_rows = np.zeros((size, size), dtype=int)
    too_few, constant = [], []

    # Columns present on every row and varying, with enough rows: all their pairs in scipy's vectorised forms.
    full = [
        index
        for index in range(size)
        if len(values) >= min_rows and np.isfinite(values[:, index]).all() and np.ptp(values[:, index]) > 0
    ]
    if full:
        block_coefficient, block_p = _correlate_block(method, values[:, full])
        coefficient[np.ix_(full, full)] = block_coefficient
        p_value[np.ix_(full, full)] = block_p
    in_block = set(full)

    for i in range(size):
        for j in range(i, size):
            x, y = values[:, i], values[:, j]
            if i in in_block and j in in_block:
                n_rows[i, j] = n_rows[j, i] = len(values)
                continue
            complete, n, problem = _pair_status(x, y, min_rows)
            n_rows[i, j] = n_rows[j, i] = n
            if problem is not None:
                if i != j:
                    record = {'pair': [columns[i], columns[j]], 'n_rows': n}
                    if problem == 'constant':
                        record['constant'] = [
                            column for column, v in ((columns[i], x), (columns[j], y)) if np.ptp(v[complete]) == 0
                        ]
                    (too_few if problem == 'too_few_rows' else constant).append(record)
                continue
            if i == j:
                coefficient[i, i], p_value[i, i] = 1.0, 0.0
                continue
            coefficient[i, j], p_value[i, j] = _correlate(method, x[complete], y[complete])
            coefficient[j, i], p_value[j, i] = coefficient[i, j], p_value[i, j]
    return CorrelationMatrix(
        method,
        pd.DataFrame(coefficient, index=columns, columns=columns),
        pd.DataFrame(p_value, index=columns, columns=columns),
        pd.DataFrame(n_rows, index=columns, columns=columns),
        min_rows,
        too_few,
        constant,
    )


def _correlate_block(method: str, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and p-values of every pair of columns of a complete, non-constant block (scipy, vectorised)."""
    count = block.shape[1]
    coefficient, p_value = np.eye(count), np.zeros((count, count))
    if method == 'spearman' and count >= 3:
        result = stats.spearmanr(block)  # all pairs at once: a matrix of coefficients and one of p-values
        # Its lower triangle can differ from the upper one in the last bit: mirror the upper one.
        coefficient = np.triu(result.statistic) + np.triu(result.statistic, 1).T
        p_value = np.triu(result.pvalue) + np.triu(result.pvalue, 1).T
    else:
        for i in range(count - 1):
            others = block[:, i + 1 :]
            if method == 'spearman':
                result = stats.spearmanr(block[:, i], others[:, 0])
            else:
                result = stats.pearsonr(np.broadcast_to(block[:, [i]], others.shape), others, axis=0)
            coefficient[i, i + 1 :] = coefficient[i + 1 :, i] = result.statistic
            p_value[i, i + 1 :] = p_value[i + 1 :, i] = result.pvalue
    np.fill_diagonal(coefficient, 1.0)
    np.fill_diagonal(p_value, 0.0)
    return coefficient, p_value


def ranked_correlations(
    matrix: pd.DataFrame,
    target: str = DIFFUSION_KEY,
    method: str = 'spearman',
    p_cut: float = SIGNIFICANCE_P,
    min_rows: int = MIN_COMPLETE_ROWS,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The target's correlation with every other descriptor, strongest first (the paper's Fig. 2 b/c).

    Columns: ``category``, ``coefficient`` and ``p_value`` (scipy, pairwise complete),
    ``p_fdr`` (Benjamini–Hochberg over the descriptors with a p-value), ``significant``
    (p < ``p_cut``, the paper's 0.2, on the unadjusted p as the paper), ``ci_low``/``ci_high``
    (percentile bootstrap interval of the coefficient, ``n_bootstrap`` resamples of the complete
    rows, seeded), ``n_rows``, and ``note`` (``too_few_rows``/``constant`` where there is no coefficient).

    :return: indexed by descriptor, sorted by |coefficient| (descending), descriptors without a coefficient last.
    """
    if target not in matrix.columns:
        raise ValueError(f'the target {target!r} is not a column of the matrix')
    rng = np.random.default_rng(seed)
    y_all = matrix[target].to_numpy(dtype=float)
    records = []
    for column in matrix.columns:
        if column == target:
            continue
        x_all = matrix[column].to_numpy(dtype=float)
        complete, n, problem = _pair_status(x_all, y_all, min_rows)
        record = {
            'descriptor': column,
            'category': DESCRIPTOR_CATEGORIES.get(column, ''),
            'coefficient': np.nan,
            'p_value': np.nan,
            'ci_low': np.nan,
            'ci_high': np.nan,
            'n_rows': n,
            'note': problem or '',
        }
        if problem is None:
            x, y = x_all[complete], y_all[complete]
            record['coefficient'], record['p_value'] = _correlate(method, x, y)
            record['ci_low'], record['ci_high'] = _bootstrap_interval(method, x, y, n_bootstrap, confidence, rng)
        records.append(record)
    ranked = pd.DataFrame.from_records(records).set_index('descriptor')
    has_p = ranked['p_value'].notna()
    ranked['p_fdr'] = np.nan
    if has_p.any():
        ranked.loc[has_p, 'p_fdr'] = stats.false_discovery_control(ranked.loc[has_p, 'p_value'], method='bh')
    ranked['significant'] = ranked['p_value'] < p_cut
    order = ranked['coefficient'].abs().sort_values(ascending=False, na_position='last', kind='stable').index
    columns = ['category', 'coefficient', 'p_value', 'p_fdr', 'significant', 'ci_low', 'ci_high', 'n_rows', 'note']
    return ranked.loc[order, columns]


def _bootstrap_interval(method, x, y, n_bootstrap, confidence, rng) -> tuple[float, float]:
    """Percentile bootstrap interval of the coefficient; resamples with a constant column are skipped."""
    if n_bootstrap <= 0:
        return np.nan, np.nan
    draws = rng.integers(0, len(x), size=(n_bootstrap, len(x)))
    xs, ys = x[draws], y[draws]
    if method == 'spearman':
        xs, ys = stats.rankdata(xs, axis=1), stats.rankdata(ys, axis=1)
    xs = xs - xs.mean(axis=1, keepdims=True)
    ys = ys - ys.mean(axis=1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        coefficients = (xs * ys).sum(axis=1) / np.sqrt((xs**2).sum(axis=1) * (ys**2).sum(axis=1))
    coefficients = coefficients[np.isfinite(coefficients)]
    if coefficients.size == 0:
        return np.nan, np.nan
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(coefficients, [tail, 100 - tail])
    return float(low), float(high)


def by_family(table: pd.DataFrame, function, min_rows: int = MIN_COMPLETE_ROWS) -> dict:
    """Apply ``function(subtable)`` to the rows of each ``mobile_family``; families with too few rows are noted.

    Rows without a family (an empty ``mobile_family``) belong to no family and are left out here.

    :return: ``{family: result}``; a family with fewer than ``min_rows`` rows maps to
        ``{'too_few_rows': n}`` instead (nothing is computed on it).
    """
    results = {}
    for family, rows in table.groupby('mobile_family', sort=True):
        results[str(family)] = {'too_few_rows': len(rows)} if len(rows) < min_rows else function(rows)
    return results


# ------------------------------------------------------------------------------------------------ PCA


@dataclasses.dataclass
class PrincipalComponents:
    """PCA of the standardised descriptors.

    ``loadings`` are the components (unit vectors, descriptor × component), so a component's
    squared loadings sum to 1; ``category_weights`` adds them up per descriptor category
    (component × category) and ``dominant_category`` names the largest.
    """

    columns: list[str]
    explained_variance_ratio: np.ndarray
    loadings: pd.DataFrame
    scores: pd.DataFrame
    category_weights: pd.DataFrame
    dominant_category: dict[str, str]

    def summary(self, components: int = 10) -> dict:
        shown = self.loadings.columns[:components]
        return {
            'descriptors': self.columns,
            'explained_variance_ratio': self.explained_variance_ratio.tolist(),
            'cumulative_explained_variance': np.cumsum(self.explained_variance_ratio).tolist(),
            'loadings': _frame_to_dict(self.loadings.loc[:, shown]),
            'category_weights': _frame_to_dict(self.category_weights.loc[shown]),
            'dominant_category': {component: self.dominant_category[component] for component in shown},
            'scores': _frame_to_dict(self.scores.loc[:, self.scores.columns[:3]]),
        }


def principal_components(matrix: pd.DataFrame) -> PrincipalComponents:
    """PCA (scikit-learn, full SVD) of the matrix standardised column by column (zero mean, unit population variance).

    :param matrix: a complete, non-constant matrix (see :func:`prepare_descriptors`).
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if matrix.isna().to_numpy().any():
        raise ValueError('PCA needs a matrix without NaN: apply prepare_descriptors first')
    standardised = StandardScaler().fit_transform(matrix.to_numpy(dtype=float))
    count = min(matrix.shape)
    pca = PCA(n_components=count, svd_solver='full').fit(standardised)
    names = [f'PC{index + 1}' for index in range(count)]
    loadings = pd.DataFrame(pca.components_.T, index=matrix.columns, columns=names)
    scores = pd.DataFrame(pca.transform(standardised), index=matrix.index, columns=names)
    categories = pd.Series(
        {column: DESCRIPTOR_CATEGORIES.get(column.split('=')[0], 'other') for column in matrix.columns}
    )
    weights = (loadings**2).groupby(categories).sum().T
    dominant = {component: str(weights.loc[component].idxmax()) for component in names}
    return PrincipalComponents(
        list(matrix.columns), pca.explained_variance_ratio_.copy(), loadings, scores, weights, dominant
    )


def _frame_to_dict(frame: pd.DataFrame) -> dict:
    """``{row: {column: value}}`` with NaN as None (JSON has no NaN)."""
    return {
        str(index): {str(column): _plain(value) for column, value in row.items()} for index, row in frame.iterrows()
    }


def _plain(value):
    """A JSON-ready Python scalar: NaN/inf as None, numpy types as Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
