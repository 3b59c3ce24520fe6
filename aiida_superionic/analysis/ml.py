"""Predict any numeric column from the descriptors: the paper's MLP, a linear kernel ridge and a random forest.

Pure numpy/pandas/scikit-learn. The rules, the paper's definitions kept exact
(docs/source/howto/analyse_table.md):

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
  ``lowest_optical_frequency_meV``, which comes from 0 K phonons); ``'composition'`` is the
  element fractions of the formula (``frac_<element>``, pymatgen) and ``temperature_K`` only, not
  among the 54 keys. ``features`` replaces the inputs by the columns named, ``exclude`` removes
  columns, for every feature set.
* **The target** is any numeric column of the table: a descriptor, or a column the user
  brought (an experimental conductivity); only the 54 descriptors (and T) are inputs.
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
  separately, with MAE and RMSE in the target's own units (decades with ``log_target``) and R².
  MAPE on a log target hides the error (34 % of a mean log10 D of −7 is 2.4 decades): read the MAE.
* **Models:** ``'mlp'`` (the paper's), ``'kernel_ridge'`` (linear, the paper's baseline) and
  ``'random_forest'`` (scikit-learn, ``RANDOM_FOREST_SETTINGS``, seeded): a strong baseline that
  needs no tuning.
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
#: A strong baseline: a random forest of 300 trees, every input considered at each split, one core.
RANDOM_FOREST_SETTINGS = {'n_estimators': 300, 'min_samples_leaf': 1, 'max_features': 1.0, 'n_jobs': 1}
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
#: The feature set of element fractions (``composition_features``): asked for, not run by default.
COMPOSITION_SET = 'composition'
ALL_FEATURE_SETS = (*FEATURE_SETS, COMPOSITION_SET)
MODELS = ('mlp', 'kernel_ridge', 'random_forest')
MODEL_NAMES = {'mlp': 'MLP', 'kernel_ridge': 'kernel ridge (linear)', 'random_forest': 'random forest'}
#: Columns that are never a target: they are identifiers or categories.
NOT_TARGETS = ('temperature_K', *CATEGORICAL_INPUTS)


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
    """MAPE (paper's, a fraction), MAE and RMSE (target's unit) and R² of pooled predictions, and their count."""
    from sklearn.metrics import mean_absolute_error, r2_score

    true = np.asarray(true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    return {
        'mape': paper_mape(true, predicted),
        'mae': float(mean_absolute_error(true, predicted)),
        'rmse': float(np.sqrt(np.mean((true - predicted) ** 2))),
        'r2': float(r2_score(true, predicted)) if len(true) > 1 else float('nan'),
        'n': len(true),
    }


def input_columns(
    target: str, feature_set: str = 'anharmonic', features=None, exclude=(), composition_columns=()
) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """The numeric and categorical input columns for ``target``, and what the rules left out (before NaN handling).

    :param features: the input columns to use instead of the feature set's (``None``: the feature set's).
    :param exclude: columns never used as inputs.
    :param composition_columns: the element-fraction columns of the ``'composition'`` feature set.
    :return: ``(numeric, categorical, left_out)`` with ``left_out`` keyed by reason
        (``'md_derived'``, ``'derived_from_target'``, ``'excluded'``).
    """
    if feature_set not in ALL_FEATURE_SETS:
        raise ValueError(f'feature_set must be one of {ALL_FEATURE_SETS}, not {feature_set!r}')
    derived = [key for key in DERIVED_FROM_TARGET.get(target, ()) if key != target]
    md_derived = [key for key in MD_DERIVED_KEYS if key != target] if feature_set == 'harmonic' else []
    if feature_set == COMPOSITION_SET:
        candidates = ['temperature_K', *composition_columns]
    elif features is not None:
        candidates = [column for column in features if column not in md_derived]
    else:
        candidates = ['temperature_K', *DESCRIPTOR_KEYS, *CATEGORICAL_INPUTS]
    excluded = {target, *derived, *md_derived}
    asked_out = [column for column in candidates if column in set(exclude)]
    chosen = list(dict.fromkeys(c for c in candidates if c not in excluded and c not in set(exclude)))
    numeric = [column for column in chosen if column not in CATEGORICAL_INPUTS]
    categorical = [column for column in CATEGORICAL_INPUTS if column in chosen]
    left_out = {'md_derived': md_derived, 'derived_from_target': derived, 'excluded': asked_out}
    return numeric, categorical, left_out


def composition_fractions(formulas: pd.Series) -> pd.DataFrame:
    """The element fractions of each formula (pymatgen), one ``frac_<element>`` column per element present.

    :raises ValueError: naming the formulas pymatgen cannot read.
    """
    from pymatgen.core import Composition

    fractions, unreadable = {}, []
    for formula in pd.unique(formulas):
        try:
            composition = Composition(str(formula))
            if not composition.valid or not composition.elements:  # 'X' is a dummy species to pymatgen
                raise ValueError(formula)
            fractions[formula] = {
                f'frac_{element}': amount
                for element, amount in composition.fractional_composition.get_el_amt_dict().items()
            }
        except (ValueError, KeyError, TypeError):
            unreadable.append(str(formula))
    if unreadable:
        raise ValueError(f'composition features need chemical formulas; pymatgen cannot read {unreadable[:5]}')
    frame = pd.DataFrame([fractions[formula] for formula in formulas], index=formulas.index).fillna(0.0)
    return frame.loc[:, sorted(frame.columns)]


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
    elif model == 'random_forest':
        from sklearn.ensemble import RandomForestRegressor

        regressor = RandomForestRegressor(random_state=seed, **RANDOM_FOREST_SETTINGS)
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


@dataclasses.dataclass
class ModelInputs:
    """The rows, target values and inputs of one feature set, resolved before any model is trained."""

    data: pd.DataFrame
    inputs: pd.DataFrame
    y: np.ndarray
    numeric: list[str]
    categorical: list[str]
    left_out: dict
    rows_left_out: dict
    impute: bool

    def key(self) -> tuple:
        """What decides the fit: two feature sets with the same key give the same model, trained once."""
        return (tuple(self.numeric), tuple(self.categorical), self.impute)


def check_target(table: pd.DataFrame, target: str) -> None:
    """Refuse a target that is not a numeric column of the table, or is an identifier or a category."""
    if target in NOT_TARGETS or target not in table.columns or not pd.api.types.is_numeric_dtype(table[target]):
        numeric = [key for key in DESCRIPTOR_KEYS if key not in CATEGORICAL_KEYS]
        raise ValueError(
            f'the target must be a numeric column of the table (one of the numeric descriptor keys, e.g. '
            f'{numeric[0]}, or a numeric column you brought), not {target!r}'
        )


def model_inputs(
    table: pd.DataFrame,
    target: str,
    feature_set: str = 'anharmonic',
    log_target: bool = False,
    nan_policy: str = 'drop_columns',
    features=None,
    exclude=(),
) -> ModelInputs:
    """The rows with a usable target and the inputs of ``feature_set`` after the NaN policy (module docstring)."""
    check_target(table, target)
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f'nan_policy must be one of {NAN_POLICIES}, not {nan_policy!r}')
    unknown = [column for column in (*(features or ()), *exclude) if column not in table.columns]
    if unknown:
        raise ValueError(f'no columns {unknown} in the table to use as inputs')
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
    composition = composition_fractions(data['formula']) if feature_set == COMPOSITION_SET else None
    if composition is not None:
        data = data.join(composition)
    numeric, categorical, left_out = input_columns(
        target, feature_set, features, exclude, () if composition is None else list(composition.columns)
    )
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
    if not numeric and not categorical:
        raise ValueError(f'the {feature_set!r} feature set has no input left (left out: {left_out})')
    return ModelInputs(data, inputs, y, numeric, categorical, left_out, rows_left_out, impute)


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
    features=None,
    exclude=(),
    resolved: ModelInputs | None = None,
) -> CrossValidation:
    """Fit and evaluate ``model`` on every fold of a by-material split; see the module docstring for the rules.

    :param table: the descriptor table (all temperatures and compositions).
    :param target: a numeric column: a descriptor key (not ``stoichiometric`` or ``space_group``) or one brought.
    :param log_target: fit log10 of the target.
    :param folds: ``None`` for leave-one-material-out, else the number of ``GroupKFold`` folds.
    :param seed: the MLP's and the forest's random state (the same for every fold): same seed, same numbers.
    :param max_iter: the MLP's most epochs.
    :param allow_mixed: accept a table of several (engine, model) pairs.
    :param on_fold: called after each fold (progress bars).
    :param features: the input columns instead of the feature set's; ``exclude`` columns never used.
    :param resolved: the inputs already resolved by :func:`model_inputs` (the same arguments).
    :raises MixedSourcesError: for several (engine, model) pairs without ``allow_mixed``.
    """
    check_single_source(table, allow_mixed)
    if model not in MODELS:
        raise ValueError(f'model must be one of {MODELS}, not {model!r}')
    if resolved is None:
        resolved = model_inputs(table, target, feature_set, log_target, nan_policy, features, exclude)
    data, inputs, y = resolved.data, resolved.inputs, resolved.y
    numeric, categorical, impute = resolved.numeric, resolved.categorical, resolved.impute

    splits = material_folds(data['formula'], folds)
    if model == 'mlp':
        settings = {'hidden_layer_sizes': list(hidden_layer_sizes), 'max_iter': max_iter, **PAPER_MLP_SETTINGS}
    elif model == 'random_forest':
        settings = {**RANDOM_FOREST_SETTINGS, 'random_state': seed}
    else:
        settings = dict(KERNEL_RIDGE_SETTINGS)
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
        left_out_inputs=resolved.left_out,
        nan_policy=nan_policy,
        rows_used=len(data),
        rows_left_out=resolved.rows_left_out,
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
