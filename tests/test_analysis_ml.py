"""The ML layer: the paper's MAPE, folds by material, feature sets, the pipeline, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_tables import FORMULAS, planted_table

from aiida_superionic.analysis.ml import (
    CATEGORICAL_INPUTS,
    MD_DERIVED_KEYS,
    PAPER_HIDDEN_LAYERS,
    build_model,
    cross_validate,
    input_columns,
    material_folds,
    paper_mape,
)
from aiida_superionic.descriptors.keys import DIFFUSIVE_VIBRATIONAL_KEYS

D = 'diffusion_coefficient_cm2_s'
SMALL = {'hidden_layer_sizes': (16, 8), 'max_iter': 30}


@pytest.fixture(scope='module')
def table():
    return planted_table()


def test_mape_is_the_papers_formula_on_a_hand_example():
    true = [2.0, -1.0, 0.0, 3.0]  # mean 1.0; a zero value and a negative one, as F_vib or a gap can be
    predicted = [2.5, -1.0, 0.5, 2.0]
    # Σ|x0 − x| = 0.5 + 0 + 0.5 + 1 = 2; / N = 0.5; / |⟨x0⟩| = 0.5.
    assert paper_mape(true, predicted) == pytest.approx(0.5)
    assert paper_mape([-2.0, -4.0], [-3.0, -4.0]) == pytest.approx(0.5 / 3.0)  # |⟨x0⟩| = 3 for a negative mean
    assert np.isnan(paper_mape([1.0, -1.0], [0.0, 0.0]))  # a mean of 0 has no relative error


def test_folds_never_put_a_material_in_training_and_test(table):
    formulas = table['formula']
    for folds in (None, 5):
        splits = material_folds(formulas, folds)
        assert len(splits) == (len(FORMULAS) if folds is None else 5)
        tested = []
        for train, test in splits:
            assert set(formulas.iloc[train]).isdisjoint(formulas.iloc[test])
            assert len(train) + len(test) == len(table)
            tested += list(formulas.iloc[test].unique())
        assert sorted(tested) == sorted(FORMULAS)  # every material is held out exactly once


def test_cross_validation_holds_out_whole_materials(table):
    result = cross_validate(table, D, 'kernel_ridge', folds=None)
    predictions = result.predictions
    for _, fold in predictions.groupby('fold'):
        train = set(fold.loc[fold['side'] == 'train', 'formula'])
        test = set(fold.loc[fold['side'] == 'test', 'formula'])
        assert len(test) == 1
        assert train.isdisjoint(test)
    test = predictions[predictions['side'] == 'test']
    assert sorted(test['row_uuid']) == sorted(table.index)  # every row predicted once, by a model that never saw it
    # All temperatures and compositions go in (T is an input), unlike the 500 K statistics.
    assert result.rows_used == len(table)
    assert 'temperature_K' in result.numeric_inputs
    # Pooled metrics are the paper's MAPE on the concatenated predictions.
    assert result.test['mape'] == pytest.approx(paper_mape(test['true'], test['predicted']))
    train = predictions[predictions['side'] == 'train']
    assert result.train['mape'] == pytest.approx(paper_mape(train['true'], train['predicted']))
    rows_per_material = 6  # 3 temperatures x 2 compositions: each is in the training set of every other fold
    assert result.train['n'] == len(train) == len(FORMULAS) * (len(table) - rows_per_material)


def test_feature_sets_and_the_inputs_derived_from_the_target():
    numeric, categorical, left_out = input_columns(D, 'anharmonic')
    assert 'msd_A2' not in numeric  # D is the slope of that MSD / 6
    assert left_out['derived_from_target'] == ['msd_A2']
    assert 'lindemann_ratio' in numeric
    assert categorical == list(CATEGORICAL_INPUTS)
    assert {'mobile_species', 'mobile_family', 'stoichiometric', 'space_group'} == set(categorical)
    assert not {'stoichiometric', 'space_group'} & set(numeric)

    harmonic, _, left_out = input_columns(D, 'harmonic')
    assert set(MD_DERIVED_KEYS) == set(DIFFUSIVE_VIBRATIONAL_KEYS) - {'lowest_optical_frequency_meV'}
    assert not set(MD_DERIVED_KEYS) & set(harmonic)
    assert 'lowest_optical_frequency_meV' in harmonic  # from 0 K phonons, not MD
    assert 'temperature_K' in harmonic
    assert 'bulk_modulus_GPa' in harmonic
    assert set(left_out['md_derived']) == set(MD_DERIVED_KEYS) - {D}

    numeric, _, left_out = input_columns('msd_A2', 'anharmonic')
    assert D not in numeric
    assert left_out['derived_from_target'] == [D]


def test_the_pipeline_scales_inside_and_ignores_unknown_categories(table):
    numeric, categorical, _ = input_columns('p_wave_modulus_GPa', 'harmonic')
    numeric = [column for column in numeric if table[column].notna().all() and table[column].nunique() > 1]
    estimator = build_model('mlp', numeric, categorical, impute=False, seed=0, **SMALL)
    pipeline = estimator.regressor
    preprocess = pipeline.named_steps['preprocess']
    assert preprocess.transformers[1][1].handle_unknown == 'ignore'
    mlp = pipeline.named_steps['regressor']
    assert (mlp.solver, mlp.learning_rate, mlp.learning_rate_init, mlp.activation, mlp.alpha) == (
        'adam',
        'constant',
        5e-4,
        'relu',
        0.05,
    )
    assert build_model('mlp', numeric, categorical, False).regressor.named_steps['regressor'].hidden_layer_sizes == (
        PAPER_HIDDEN_LAYERS
    )
    ridge = build_model('kernel_ridge', numeric, categorical, False).regressor.named_steps['regressor']
    assert (ridge.kernel, ridge.alpha) == ('linear', 1.0)
    # A held-out material of a new mobile species and space group: its one-hot columns are all zero, no error.
    inputs = table.loc[:, numeric + categorical].astype({'stoichiometric': str, 'space_group': str})
    training = table['mobile_species'] != 'O'
    estimator.fit(inputs[training], table.loc[training, 'p_wave_modulus_GPa'])
    unseen = inputs[~training].assign(space_group='230')
    assert np.isfinite(estimator.predict(unseen)).all()


def test_kernel_ridge_recovers_an_exact_linear_law(table):
    """σ = B + 4G/3 is planted exactly: the linear baseline must predict held-out materials almost exactly."""
    result = cross_validate(table, 'p_wave_modulus_GPa', 'kernel_ridge', 'harmonic', folds=6)
    assert result.fold_kind == 'GroupKFold(6)'
    assert result.test['mape'] < 0.01
    assert result.test['r2'] > 0.99
    assert result.left_out_inputs['derived_from_target'] == []


def test_nan_policy_in_the_ml(table):
    dropped = cross_validate(table, D, 'kernel_ridge', nan_policy='drop_columns', folds=4)
    assert 'vacancy_formation_energy_eV' in dropped.left_out_inputs['nan']
    assert 'band_gap_eV' in dropped.left_out_inputs['nan']
    assert 'lattice_angles_std_deg' in dropped.left_out_inputs['constant']
    imputed = cross_validate(table, D, 'kernel_ridge', nan_policy='impute', folds=4)
    assert 'vacancy_formation_energy_eV' in imputed.numeric_inputs  # median of the fold's training rows
    assert 'band_gap_eV' in imputed.left_out_inputs['nan']  # no value at all: nothing to impute from
    gaps = table.copy()
    gaps.iloc[:5, gaps.columns.get_loc(D)] = np.nan
    assert cross_validate(gaps, D, 'kernel_ridge', folds=4).rows_left_out['target_missing'] == 5


def test_log_target_and_its_back_transformed_metrics(table):
    result = cross_validate(table, D, 'kernel_ridge', 'anharmonic', log_target=True, folds=4)
    assert result.fitted_target == f'log10({D})'
    test = result.predictions[result.predictions['side'] == 'test']
    np.testing.assert_allclose(test['true'], np.log10(table.loc[test['row_uuid'], D]))
    assert result.test_linear['mape'] == pytest.approx(paper_mape(10 ** test['true'], 10 ** test['predicted']))
    # log10 D is linear in γ (D = 1e-9 exp(60 γ)): the linear model gets it with MD inputs, not without.
    assert result.test['r2'] > 0.99
    harmonic = cross_validate(table, D, 'kernel_ridge', 'harmonic', log_target=True, folds=4)
    assert harmonic.test['r2'] < 0.5


def test_the_mlp_is_deterministic_with_a_seed(table):
    first = cross_validate(table, D, 'mlp', folds=3, seed=4, log_target=True, **SMALL)
    second = cross_validate(table, D, 'mlp', folds=3, seed=4, log_target=True, **SMALL)
    pd.testing.assert_frame_equal(first.predictions, second.predictions)
    other = cross_validate(table, D, 'mlp', folds=3, seed=5, log_target=True, **SMALL)
    assert not np.allclose(first.predictions['predicted'], other.predictions['predicted'])
    assert first.settings['max_iter'] == 30
    assert first.not_converged_folds == 3  # 30 epochs: counted, not hidden


@pytest.mark.slow
def test_the_papers_architecture_learns_on_a_small_table(table):
    """The full (200, 500, 50, 150, 70, 100) network, leaving one material out, on 5 materials (30 rows)."""
    small = table[table['formula'].isin(FORMULAS[:5])]
    result = cross_validate(small, D, 'mlp', 'anharmonic', log_target=True, max_iter=60, seed=0)
    assert result.folds == 5
    assert result.settings['hidden_layer_sizes'] == list(PAPER_HIDDEN_LAYERS)
    assert result.train['r2'] > 0.8
    assert np.isfinite(result.test['mape'])


def test_targets_are_checked(table):
    with pytest.raises(ValueError, match='numeric descriptor keys'):
        cross_validate(table, 'space_group', 'kernel_ridge')
    with pytest.raises(ValueError, match='feature_set'):
        cross_validate(table, D, 'kernel_ridge', 'quantum')
    with pytest.raises(ValueError, match='at least 2 materials'):
        cross_validate(table[table['formula'] == FORMULAS[0]], D, 'kernel_ridge')
