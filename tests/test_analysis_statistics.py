"""Selection, correlations, PCA and k-means against scipy/scikit-learn called directly, and the planted structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_tables import (
    CONSTANT,
    ENGINE_CANNOT_GIVE,
    EXPECTED_SELECTION_K,
    PLANTED_CLUSTER,
    SOME_GAPS,
    planted_table,
)
from scipy import stats

from aiida_superionic.analysis.classes import cluster_scan
from aiida_superionic.analysis.statistics import (
    by_family,
    correlation_matrix,
    descriptor_matrix,
    prepare_descriptors,
    principal_components,
    ranked_correlations,
    select_near_temperature,
)
from aiida_superionic.descriptors.keys import DESCRIPTOR_CATEGORIES

D = 'diffusion_coefficient_cm2_s'


@pytest.fixture(scope='module')
def table():
    return planted_table()


@pytest.fixture(scope='module')
def selected(table):
    return select_near_temperature(table)


def test_selection_keeps_the_row_closest_to_500_K_per_material_and_composition(table, selected):
    expected = {formula: temperature for formula, temperature in EXPECTED_SELECTION_K.items() if temperature}
    assert len(selected) == 2 * len(expected)  # both compositions of every material with a row in 400–600 K
    for (formula, stoichiometric), rows in selected.groupby(['formula', 'stoichiometric']):
        assert len(rows) == 1
        assert rows['temperature_K'].iloc[0] == expected[formula], (formula, stoichiometric)
    left_out = {formula for formula, temperature in EXPECTED_SELECTION_K.items() if temperature is None}
    assert left_out.isdisjoint(selected['formula'])
    assert list(selected.index) == [name for name in table.index if name in set(selected.index)]  # table order


def test_selection_breaks_a_tie_by_the_lower_temperature():
    rows = planted_table().iloc[:2].copy()
    rows['temperature_K'] = [450.0, 550.0]
    rows['stoichiometric'] = True
    assert select_near_temperature(rows)['temperature_K'].tolist() == [450.0]
    assert select_near_temperature(rows, temperature_K=560.0, window_K=5.0).empty


@pytest.mark.parametrize('method', ['spearman', 'pearson'])
def test_correlation_matrices_are_scipys_pair_by_pair(selected, method):
    matrix = descriptor_matrix(selected)
    result = correlation_matrix(matrix, method)
    function = stats.spearmanr if method == 'spearman' else stats.pearsonr
    rng = np.random.default_rng(0)
    complete = [column for column in matrix.columns if matrix[column].notna().all() and matrix[column].nunique() > 1]
    pairs = [tuple(rng.choice(complete, 2, replace=False)) for _ in range(40)]
    pairs += [(D, 'lindemann_ratio'), (D, 'msd_A2')]
    # A column with gaps: scipy on the rows where both are present.
    present = matrix[SOME_GAPS].notna()
    expected = function(matrix.loc[present, D], matrix.loc[present, SOME_GAPS])
    assert result.coefficient.loc[D, SOME_GAPS] == pytest.approx(expected.statistic, rel=1e-12, abs=1e-15)
    assert result.p_value.loc[SOME_GAPS, D] == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-300)
    assert result.n_rows.loc[D, SOME_GAPS] == present.sum()
    for first, second in pairs:
        expected = function(matrix[first], matrix[second])
        assert result.coefficient.loc[first, second] == pytest.approx(expected.statistic, rel=1e-12, abs=1e-15)
        assert result.p_value.loc[first, second] == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-300)
    np.testing.assert_array_equal(result.coefficient.to_numpy(), result.coefficient.to_numpy().T)
    # Descriptors the engine cannot give and the constant one: no coefficient, every pair listed, nothing guessed.
    listed_too_few = {tuple(record['pair']) for record in result.too_few_rows}
    listed_constant = {tuple(record['pair']) for record in result.constant}
    for column in ENGINE_CANNOT_GIVE:
        assert result.coefficient[column].isna().all()
        assert (column, D) in listed_too_few or (D, column) in listed_too_few
    assert result.coefficient[CONSTANT].isna().all()
    assert (CONSTANT, D) in listed_constant or (D, CONSTANT) in listed_constant


def test_pairs_with_fewer_than_5_complete_rows_are_reported_not_guessed(selected):
    rows = selected.iloc[:8].copy()
    rows.loc[rows.index[:5], 'bulk_modulus_GPa'] = np.nan  # 3 complete rows left for its pairs
    result = correlation_matrix(descriptor_matrix(rows), 'spearman', min_rows=5)
    assert result.coefficient.loc['bulk_modulus_GPa', D] != result.coefficient.loc['bulk_modulus_GPa', D]  # NaN
    record = next(r for r in result.too_few_rows if set(r['pair']) == {'bulk_modulus_GPa', D})
    assert record['n_rows'] == 3
    assert not np.isnan(result.coefficient.loc['shear_modulus_GPa', D])  # 8 rows: computed


def test_per_family_results_and_a_family_too_small(selected):
    small = selected[selected['mobile_family'] != 'O']
    small = pd.concat([small, selected[selected['mobile_family'] == 'O'].iloc[:3]])
    results = by_family(small, lambda rows: correlation_matrix(descriptor_matrix(rows)).coefficient)
    assert results['O'] == {'too_few_rows': 3}
    lithium = selected[selected['mobile_family'] == 'Li']
    expected = stats.spearmanr(lithium[D], lithium['msd_A2']).statistic
    assert results['Li'].loc[D, 'msd_A2'] == pytest.approx(expected)
    assert results['Li']['mobile_ion_mass_amu'].isna().all()  # one mass in the Li family: constant, no coefficient


def test_ranked_correlations_find_the_planted_nonlinear_law(selected):
    matrix = descriptor_matrix(selected)
    spearman = ranked_correlations(matrix, D, 'spearman', n_bootstrap=300, seed=1)
    pearson = ranked_correlations(matrix, D, 'pearson', n_bootstrap=0)
    # D = 1e-9 exp(60 γ): monotonic, so γ is first by Spearman (ρ = 1); strongly non-linear, so not by Pearson.
    assert spearman.index[0] == 'lindemann_ratio'
    assert spearman['coefficient'].iloc[0] == pytest.approx(1.0)
    assert pearson.index[0] == 'msd_A2'
    assert pearson.loc['lindemann_ratio', 'coefficient'] < pearson.loc['msd_A2', 'coefficient']
    # Sorted by |ρ|, descriptors without a coefficient last and noted.
    coefficients = spearman['coefficient'].dropna().abs().to_numpy()
    assert np.all(np.diff(coefficients) <= 0)
    assert set(spearman.index[-len(ENGINE_CANNOT_GIVE) - 1 :]) == {*ENGINE_CANNOT_GIVE, CONSTANT}
    assert spearman.loc['band_gap_eV', 'note'] == 'too_few_rows'
    assert spearman.loc[CONSTANT, 'note'] == 'constant'
    # The paper's cut, on the unadjusted p; Benjamini–Hochberg as scipy's; categories attached.
    assert (spearman['significant'] == (spearman['p_value'] < 0.2)).all()
    has_p = spearman['p_value'].notna()
    np.testing.assert_allclose(
        spearman.loc[has_p, 'p_fdr'], stats.false_discovery_control(spearman.loc[has_p, 'p_value'], method='bh')
    )
    assert (spearman.loc[has_p, 'p_fdr'] >= spearman.loc[has_p, 'p_value'] - 1e-15).all()
    assert spearman.loc['msd_A2', 'category'] == DESCRIPTOR_CATEGORIES['msd_A2']
    # Bootstrap intervals: seeded (same seed, same numbers) and around the estimate.
    again = ranked_correlations(matrix, D, 'spearman', n_bootstrap=300, seed=1)
    pd.testing.assert_frame_equal(spearman, again)
    inside = spearman.dropna(subset=['ci_low'])
    assert (
        (inside['ci_low'] <= inside['coefficient'] + 1e-12) & (inside['coefficient'] <= inside['ci_high'] + 1e-12)
    ).mean() > 0.9
    assert spearman.loc['lindemann_ratio', ['ci_low', 'ci_high']].tolist() == pytest.approx([1.0, 1.0])


def test_nan_policy_drops_or_imputes_and_says_which(selected):
    dropped = prepare_descriptors(selected, 'drop_columns')
    assert set(dropped.dropped_for_nan) == {*ENGINE_CANNOT_GIVE, SOME_GAPS}
    assert dropped.dropped_constant == [CONSTANT]
    assert not dropped.matrix.isna().any().any()
    assert dropped.imputed_medians == {}

    imputed = prepare_descriptors(selected, 'impute')
    assert set(imputed.dropped_for_nan) == set(ENGINE_CANNOT_GIVE)  # nothing to take a median of
    median = selected[SOME_GAPS].median()
    assert imputed.imputed_medians == {SOME_GAPS: pytest.approx(median)}
    gaps = selected[SOME_GAPS].isna()
    assert gaps.any()
    assert (imputed.matrix.loc[gaps, SOME_GAPS] == median).all()  # the median, never zero
    assert (imputed.matrix.loc[~gaps, SOME_GAPS] == selected.loc[~gaps, SOME_GAPS]).all()
    with pytest.raises(ValueError, match='nan_policy'):
        prepare_descriptors(selected, 'zero')


def test_pca_is_sklearns_on_the_standardised_matrix(selected):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    matrix = prepare_descriptors(selected).matrix
    result = principal_components(matrix)
    standardised = StandardScaler().fit_transform(matrix)
    reference = PCA(svd_solver='full').fit(standardised)
    np.testing.assert_allclose(result.explained_variance_ratio, reference.explained_variance_ratio_, atol=1e-12)
    np.testing.assert_allclose(result.loadings.to_numpy(), reference.components_.T, atol=1e-10)
    np.testing.assert_allclose(result.scores.to_numpy(), reference.transform(standardised), atol=1e-9)
    # Squared loadings of a component sum to 1 over the categories; the dominant one is the largest share.
    np.testing.assert_allclose(result.category_weights.sum(axis=1), 1.0)
    assert result.dominant_category['PC1'] == result.category_weights.loc['PC1'].idxmax()
    # The planted diffusion factor (γ, D, msd) is a component of its own, diffusive–vibrational.
    third = result.loadings['PC3'].abs().sort_values(ascending=False).index[:3]
    assert set(third) == {'lindemann_ratio', D, 'msd_A2'}
    assert result.dominant_category['PC3'] == 'diffusive-vibrational'
    with pytest.raises(ValueError, match='NaN'):
        principal_components(descriptor_matrix(selected))


def test_kmeans_recovers_the_planted_clusters(selected):
    from sklearn.metrics import adjusted_rand_score

    scores = principal_components(prepare_descriptors(selected).matrix).scores
    planted = selected['formula'].map(PLANTED_CLUSTER)
    flat = cluster_scan(scores, selected['mobile_species'], dimensions=2, seed=3)
    assert flat.chosen_k == 4
    assert flat.chosen_by == 'largest silhouette'
    assert adjusted_rand_score(planted, flat.labels) == pytest.approx(1.0)
    assert flat.elbow_k == 4
    assert len(flat.inertia) == len(flat.silhouette) == len(flat.k_values)
    assert np.all(np.diff(flat.inertia) < 0)
    assert flat.composition.to_numpy().sum() == len(selected)
    assert flat.composition.loc[:, 'Li'].sum() == (selected['mobile_species'] == 'Li').sum()
    # In 3-D the planted diffusion factor (PC3) competes with the clusters: at the paper's practice of fixing k, exact.
    solid = cluster_scan(scores, selected['mobile_species'], dimensions=3, n_clusters=4, seed=3)
    assert solid.chosen_by == 'given'
    assert adjusted_rand_score(planted, solid.labels) == pytest.approx(1.0)
    # Seeded.
    again = cluster_scan(scores, selected['mobile_species'], dimensions=2, seed=3)
    pd.testing.assert_series_equal(flat.labels, again.labels)
    assert flat.inertia == again.inertia
