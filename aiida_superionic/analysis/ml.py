"""Predict any descriptor from the others: the paper's MLP and a linear kernel-ridge baseline.

Pure numpy/pandas/scikit-learn. The rules (DESIGN.md, "Paper definitions to keep exact"):

* **Rows:** every temperature and composition of the table (``temperature_K`` is an input); rows
  without a target value are left out (counted). With ``log_target`` the target is log10 of the
  descriptor and rows where it is ≤ 0 are left out (counted).
* **Inputs:** the other descriptors and ``temperature_K``. Categorical inputs are one-hot encoded
  with unknown categories ignored (the held-out material is new): the mobile element
  (``mobile_species``), the composition family (``mobile_family``), ``stoichiometric`` and
  ``space_group``; a missing categorical value is a category of its own. The numeric inputs are
  standard-scaled inside the pipeline, so the scaler only sees the training rows of a fold.
* **Feature sets:** ``'anharmonic'`` uses all inputs; ``'harmonic'`` leaves out every
  MD-derived descriptor (``MD_DERIVED_KEYS``: the diffusive–vibrational keys except
  ``lowest_optical_frequency_meV``, which comes from 0 K phonons).
* **Inputs derived from the target** are left out: ``DERIVED_FROM_TARGET`` (``msd_A2`` when
  predicting D and D when predicting ``msd_A2``: D is the slope of that MSD divided by 6).
  Quantities related by a formula through other inputs (e.g. the elastic moduli, all functions of
  B and G) are kept: predicting one of them from the others is then an identity, the user's call.
* **NaN policy** (as in :mod:`.statistics`): ``'drop_columns'`` drops numeric inputs with a NaN in
  the rows used; ``'impute'`` replaces NaN by the median of the fold's training rows (inside the
  pipeline). Inputs with no value at all and constant inputs are dropped either way. All listed.
* **Validation:** leave one material out (``LeaveOneGroupOut`` on ``formula``: all temperatures
  and compositions of a material are held out together), or ``GroupKFold`` with ``folds`` groups.
* **Error:** :func:`paper_mape` pooled over the folds, for the training and the test predictions
  separately, with MAE and R².
* **Target scaling:** the target is standardised for the fit and predictions transformed back
  (``TransformedTargetRegressor``): the paper does not say, and an unscaled D of ~1e-5 cm²/s is
  below what the network resolves. Metrics are on the target as given (or on log10 of it).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..descriptors.keys import CATEGORICAL_KEYS, DESCRIPTOR_KEYS, DIFFUSIVE_VIBRATIONAL_KEYS
from .statistics import NAN_POLICIES
from .table import check_single_source

#: The paper's MLP: six hidden layers, Adam at a constant learning rate 5e-4, ReLU, L2 penalty alpha 0.05.
PAPER_HIDDEN_LAYERS = (200, 500, 50, 150, 70, 100)
PAPER_MLP_SETTINGS = {
    'solver': 'adam',
    'learning_rate': 'constant',
    'learning_rate_init': 5e-4,
    'activation': 'relu',
    'alpha': 0.05,
}
#: The baseline: kernel ridge with a linear kernel and alpha 1.
KERNEL_RIDGE_SETTINGS = {'kernel': 'linear', 'alpha': 1.0}
#: Default epochs of the MLP (scikit-learn stops earlier when the loss stops improving).
DEFAULT_MAX_ITER = 2000

#: Descriptors that need molecular dynamics: left out of the 'harmonic' feature set.
MD_DERIVED_KEYS = tuple(key for key in DIFFUSIVE_VIBRATIONAL_KEYS if key != 'lowest_optical_frequency_meV')
#: Inputs that are a transform of the target by definition (left out whatever the feature set).
DERIVED_FROM_TARGET = {
    'diffusion_coefficient_cm2_s': ('msd_A2',),
    'msd_A2': ('diffusion_coefficient_cm2_s',),
}
#: Categorical inputs, one-hot encoded: mobile element, composition family, stoichiometry, symmetry.
CATEGORICAL_INPUTS = ('mobile_species', 'mobile_family', *CATEGORICAL_KEYS)
FEATURE_SETS = ('anharmonic', 'harmonic')
MODELS = ('mlp', 'kernel_ridge')


def paper_mape(true, predicted) -> float:
    """The paper's mean absolute percentage error: Σ|x0 − x| / N / |⟨x0⟩|, as a fraction (× 100 for %).

    Normalised by the mean of the true values ``x0`` (some targets are 0) in absolute value (some
    means, e.g. of F_vib, are negative). NaN when that mean is 0.
    """
    true = np.asarray(true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    mean = abs(float(np.mean(true)))
    if mean == 0:
        return float('nan')
    return float(np.abs(true - predicted).sum() / true.size / mean)


def regression_metrics(true, predicted) -> dict:
    """MAPE (paper's, a fraction), MAE (target's unit) and R² of pooled predictions, and their count."""
    from sklearn.metrics import mean_absolute_error, r2_score

    return {
        'mape': paper_mape(true, predicted),
        'mae': float(mean_absolute_error(true, predicted)),
        'r2': float(r2_score(true, predicted)) if len(true) > 1 else float('nan'),
        'n': len(true),
    }


def input_columns(target: str, feature_set: str = 'anharmonic') -> tuple[list[str], list[str], dict[str, list[str]]]:
    """The numeric and categorical input columns for ``target``, and what the rules left out (before NaN handling).

    :return: ``(numeric, categorical, left_out)`` with ``left_out`` keyed by reason
        (``'md_derived'``, ``'derived_from_target'``).
    """
    if feature_set not in FEATURE_SETS:
        raise ValueError(f'feature_set must be one of {FEATURE_SETS}, not {feature_set!r}')
    derived = [key for key in DERIVED_FROM_TARGET.get(target, ()) if key != target]
    md_derived = [key for key in MD_DERIVED_KEYS if key != target] if feature_set == 'harmonic' else []
    excluded = {target, *derived, *md_derived}
    numeric = ['temperature_K'] + [
        key for key in DESCRIPTOR_KEYS if key not in excluded and key not in CATEGORICAL_INPUTS
    ]
    categorical = [key for key in CATEGORICAL_INPUTS if key not in excluded]
    return numeric, categorical, {'md_derived': md_derived, 'derived_from_target': derived}


def material_folds(formulas: pd.Series, folds: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test row positions with every material (``formula``) wholly in one side.

    :param folds: ``None`` for leave-one-material-out; an integer for ``GroupKFold`` with that many folds.
    """
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    groups = np.asarray(formulas)
    materials = len(np.unique(groups))
    if materials < 2:
        raise ValueError(f'cross-validation by material needs at least 2 materials, not {materials}')
    splitter = LeaveOneGroupOut() if folds is None else GroupKFold(n_splits=min(int(folds), materials))
    return list(splitter.split(np.zeros(len(groups)), groups=groups))


def build_model(
    model: str,
    numeric: list[str],
    categorical: list[str],
    impute: bool,
    seed: int = 0,
    max_iter: int = DEFAULT_MAX_ITER,
    hidden_layer_sizes=PAPER_HIDDEN_LAYERS,
):
    """The scikit-learn estimator: preprocessing (impute, scale, one-hot) and the regressor, target standardised."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if model not in MODELS:
        raise ValueError(f'model must be one of {MODELS}, not {model!r}')
    numeric_steps = [('impute', SimpleImputer(strategy='median'))] if impute else []
    preprocess = ColumnTransformer(
        [
            ('numeric', Pipeline([*numeric_steps, ('scale', StandardScaler())]), numeric),
            ('categorical', OneHotEncoder(handle_unknown='ignore', sparse_output=False), categorical),
        ]
    )
    if model == 'mlp':
        regressor = MLPRegressor(
            hidden_layer_sizes=tuple(hidden_layer_sizes), max_iter=max_iter, random_state=seed, **PAPER_MLP_SETTINGS
        )
    else:
        regressor = KernelRidge(**KERNEL_RIDGE_SETTINGS)
    return TransformedTargetRegressor(
        regressor=Pipeline([('preprocess', preprocess), ('regressor', regressor)]), transformer=StandardScaler()
    )


@dataclasses.dataclass
class CrossValidation:
    """The result of one model and feature set, validated by material.

    ``train`` and ``test`` hold the pooled :func:`regression_metrics`; with ``log_target`` the
    metrics are on log10 of the target and ``train_linear``/``test_linear`` on the target itself
    (10 to the predictions). ``predictions`` has a row per (fold, row, side).
    """

    target: str
    fitted_target: str
    log_target: bool
    model: str
    feature_set: str
    numeric_inputs: list[str]
    categorical_inputs: list[str]
    left_out_inputs: dict[str, list]
    nan_policy: str
    rows_used: int
    rows_left_out: dict[str, int]
    fold_kind: str
    folds: int
    settings: dict
    seed: int
    not_converged_folds: int
    train: dict
    test: dict
    train_linear: dict | None
    test_linear: dict | None
    predictions: pd.DataFrame

    def summary(self) -> dict:
        fields = dataclasses.asdict(self)
        fields.pop('predictions')
        return fields


def cross_validate(
    table: pd.DataFrame,
    target: str = 'diffusion_coefficient_cm2_s',
    model: str = 'mlp',
    feature_set: str = 'anharmonic',
    log_target: bool = False,
    nan_policy: str = 'drop_columns',
    folds: int | None = None,
    seed: int = 0,
    max_iter: int = DEFAULT_MAX_ITER,
    hidden_layer_sizes=PAPER_HIDDEN_LAYERS,
    allow_mixed: bool = False,
    on_fold: Callable[[], None] | None = None,
) -> CrossValidation:
    """Fit and evaluate ``model`` on every fold of a by-material split; see the module docstring for the rules.

    :param table: the descriptor table (all temperatures and compositions).
    :param target: a numeric descriptor key (not ``stoichiometric`` or ``space_group``).
    :param log_target: fit log10 of the target.
    :param folds: ``None`` for leave-one-material-out, else the number of ``GroupKFold`` folds.
    :param seed: the MLP's random state (the same for every fold): same seed, same numbers.
    :param max_iter: the MLP's most epochs.
    :param allow_mixed: accept a table of several (engine, model) pairs.
    :param on_fold: called after each fold (progress bars).
    :raises MixedSourcesError: for several (engine, model) pairs without ``allow_mixed``.
    """
    check_single_source(table, allow_mixed)
    if target not in DESCRIPTOR_KEYS or target in CATEGORICAL_KEYS:
        raise ValueError(f'the target must be one of the numeric descriptor keys, not {target!r}')
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f'nan_policy must be one of {NAN_POLICIES}, not {nan_policy!r}')

    numeric, categorical, left_out = input_columns(target, feature_set)
    y_all = table[target].astype(float)
    keep = y_all.notna()
    rows_left_out = {'target_missing': int((~keep).sum())}
    if log_target:
        positive = y_all > 0
        rows_left_out['target_not_positive'] = int((keep & ~positive).sum())
        keep &= positive
    data = table.loc[keep]
    if data.empty:
        raise ValueError(f'no row has a usable value of {target!r}')
    y = np.log10(data[target].to_numpy(dtype=float)) if log_target else data[target].to_numpy(dtype=float)

    numbers = data.loc[:, numeric].astype(float)
    all_missing = [column for column in numeric if numbers[column].isna().all()]
    some_missing = [column for column in numeric if column not in all_missing and numbers[column].isna().any()]
    dropped_nan = all_missing + (some_missing if nan_policy == 'drop_columns' else [])
    numeric = [column for column in numeric if column not in dropped_nan]
    constant = [column for column in numeric if numbers[column].nunique(dropna=True) <= 1]
    numeric = [column for column in numeric if column not in constant]
    left_out = {**left_out, 'nan': dropped_nan, 'constant': constant}
    impute = nan_policy == 'impute' and any(column in some_missing for column in numeric)

    inputs = numbers.loc[:, numeric].copy()
    for column in categorical:
        values = data[column]
        if column == 'space_group':
            values = values.map(lambda value: 'missing' if pd.isna(value) else str(int(value)))
        inputs[column] = values.astype(object).where(values.notna(), 'missing').astype(str)

    splits = material_folds(data['formula'], folds)
    settings = (
        {'hidden_layer_sizes': list(hidden_layer_sizes), 'max_iter': max_iter, **PAPER_MLP_SETTINGS}
        if model == 'mlp'
        else dict(KERNEL_RIDGE_SETTINGS)
    )
    records, not_converged = [], 0
    for fold, (train, test) in enumerate(splits):
        estimator = build_model(model, numeric, categorical, impute, seed, max_iter, hidden_layer_sizes)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            estimator.fit(inputs.iloc[train], y[train])
        if any(type(warning.message).__name__ == 'ConvergenceWarning' for warning in caught):
            not_converged += 1
        for side, positions in (('train', train), ('test', test)):
            predicted = estimator.predict(inputs.iloc[positions])
            records.append(
                pd.DataFrame(
                    {
                        'row_uuid': data.index[positions],
                        'formula': data['formula'].to_numpy()[positions],
                        'fold': fold,
                        'side': side,
                        'true': y[positions],
                        'predicted': predicted,
                    }
                )
            )
        if on_fold is not None:
            on_fold()
    predictions = pd.concat(records, ignore_index=True)

    def metrics(side: str, linear: bool = False) -> dict:
        chosen = predictions[predictions['side'] == side]
        true, predicted = chosen['true'].to_numpy(), chosen['predicted'].to_numpy()
        if linear:
            true, predicted = 10.0**true, 10.0**predicted
        return regression_metrics(true, predicted)

    return CrossValidation(
        target=target,
        fitted_target=f'log10({target})' if log_target else target,
        log_target=log_target,
        model=model,
        feature_set=feature_set,
        numeric_inputs=numeric,
        categorical_inputs=categorical,
        left_out_inputs=left_out,
        nan_policy=nan_policy,
        rows_used=len(data),
        rows_left_out=rows_left_out,
        fold_kind='leave-one-material-out' if folds is None else f'GroupKFold({min(int(folds), len(splits))})',
        folds=len(splits),
        settings=settings,
        seed=seed,
        not_converged_folds=not_converged if model == 'mlp' else 0,
        train=metrics('train'),
        test=metrics('test'),
        train_linear=metrics('train', linear=True) if log_target else None,
        test_linear=metrics('test', linear=True) if log_target else None,
        predictions=predictions,
    )
