"""The descriptor table as a pandas ``DataFrame``: its columns, their types, CSV/Parquet files, and its checks.

One row per (material, temperature, composition): the identifier columns, the 54 descriptor columns
(:mod:`aiida_superionic.descriptors.keys`), the trust columns (:mod:`aiida_superionic.common.trust`: the
diffusivity verdict, σ(D), hops, MD length, ...) and the provenance UUIDs, indexed by the UUID of the row's
``Dict`` node (``row_uuid``: UUIDs survive ``verdi archive export``/``import``, pks do not). A descriptor an engine
cannot give is NaN, never zero. This module is pure pandas: the table is read out of an AiiDA profile by
:mod:`aiida_superionic.analysis.export`.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

from ..common.trust import OVERRIDES_COLUMN, TEXT_TRUST_COLUMNS, TRUST_COLUMNS, overrides_text
from ..descriptors.keys import DESCRIPTOR_KEYS, IDENTIFIER_KEYS

#: The index of the table: the UUID of the row's ``Dict`` (the ``result`` of ``merge_descriptors``).
INDEX_COLUMN = 'row_uuid'

#: Provenance beside the row's own UUID: the workchain that called ``merge_descriptors`` and its ``structure`` input.
PROVENANCE_COLUMNS = ('workchain_uuid', 'structure_uuid')

#: Descriptor columns that are not also identifiers (``stoichiometric`` is both, and is one column).
DESCRIPTOR_ONLY_KEYS = tuple(key for key in DESCRIPTOR_KEYS if key not in IDENTIFIER_KEYS)

#: Every column of the table, in order (the index ``row_uuid`` aside).
TABLE_COLUMNS = (*IDENTIFIER_KEYS, *DESCRIPTOR_ONLY_KEYS, *TRUST_COLUMNS, *PROVENANCE_COLUMNS)

#: Columns a table file must have: the identifiers and the 54 descriptors (trust and provenance are optional).
REQUIRED_COLUMNS = (*IDENTIFIER_KEYS, *DESCRIPTOR_ONLY_KEYS)

#: Columns a table may lack (a table typed in from a paper has no verdict): they are added, empty.
OPTIONAL_COLUMNS = (*TRUST_COLUMNS, *PROVENANCE_COLUMNS)

#: Trust columns holding numbers.
NUMERIC_TRUST_COLUMNS = tuple(column for column in TRUST_COLUMNS if column not in TEXT_TRUST_COLUMNS)

#: Identifiers that may not be empty: the analysis groups, selects and separates rows by them.
NON_NULL_IDENTIFIERS = ('formula', 'mobile_species', 'temperature_K', 'stoichiometric', 'engine', 'model')

#: Identifier columns holding text.
TEXT_IDENTIFIERS = ('formula', 'mobile_species', 'mobile_family', 'engine', 'model', 'protocol')

#: The table file formats, by suffix.
TABLE_SUFFIXES = ('.csv', '.parquet')


class TableColumnsError(ValueError):
    """A table file lacks required columns, has unknown ones, or holds values of the wrong kind."""


class MixedSourcesError(ValueError):
    """A table pools rows of more than one (engine, model) pair and mixing was not allowed."""


class MissingDependencyError(ImportError):
    """An optional package a file format needs (pyarrow for Parquet) is not installed."""


def normalise_table(frame: pd.DataFrame, extra_columns=()) -> pd.DataFrame:
    """Return the table with its columns in order and their types fixed.

    Text identifiers, text trust columns and UUIDs are strings (missing: NaN), ``temperature_K``
    (K), every descriptor and the numeric trust columns are float64 (``None`` becomes NaN),
    ``stoichiometric`` is bool; ``protocol_overrides`` is JSON text. The index is ``row_uuid``.

    :param extra_columns: columns beyond the table's that are kept, after them (a user's target,
        identifiers): columns whose every value is a number become float64, the others stay as they are.

    :raises TableColumnsError: for a missing required column, a descriptor value that is not a number, an empty required
        identifier, a ``stoichiometric`` value that is not true/false, or a repeated ``row_uuid``.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise TableColumnsError(f'missing required columns: {", ".join(missing)}')
    table = frame.copy()
    for column in OPTIONAL_COLUMNS:
        if column not in table.columns:
            table[column] = None
    extra_columns = [column for column in extra_columns if column not in TABLE_COLUMNS]
    absent = [column for column in extra_columns if column not in table.columns]
    if absent:
        raise TableColumnsError(f'no columns {absent} in the table')
    table = table.loc[:, [*TABLE_COLUMNS, *extra_columns]]
    table[OVERRIDES_COLUMN] = table[OVERRIDES_COLUMN].map(
        lambda value: value if _is_missing(value) else overrides_text(value)
    )

    empty = [column for column in NON_NULL_IDENTIFIERS if table[column].isna().any()]
    if empty:
        raise TableColumnsError(f'the identifier columns {empty} have empty values; every row needs them')

    for column in (*TEXT_IDENTIFIERS, *TEXT_TRUST_COLUMNS, *PROVENANCE_COLUMNS):
        table[column] = table[column].astype(object).astype('str')  # missing values stay missing (NaN)
    table['stoichiometric'] = _as_bool(table['stoichiometric'])

    not_numbers = []
    for column in ('temperature_K', *DESCRIPTOR_ONLY_KEYS, *NUMERIC_TRUST_COLUMNS):
        values = table[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            converted = pd.to_numeric(values.where(values.notna(), np.nan), errors='coerce')
            if (converted.isna() & values.notna()).any():
                not_numbers.append(column)
                continue
            values = converted
        elif pd.api.types.is_bool_dtype(values):
            values = values.astype(float)
        table[column] = values.astype('float64')
    if not_numbers:
        raise TableColumnsError(f'the columns {not_numbers} hold values that are not numbers')
    for column in extra_columns:
        converted = pd.to_numeric(table[column], errors='coerce')
        if not (converted.isna() & table[column].notna()).any():
            table[column] = converted.astype('float64')

    table.index = pd.Index(table.index.astype(str), name=INDEX_COLUMN)
    duplicated = table.index[table.index.duplicated()].unique().tolist()
    if duplicated:
        raise TableColumnsError(f'{INDEX_COLUMN} repeats: {duplicated[:5]}')
    return table


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _as_bool(values: pd.Series) -> pd.Series:
    """``stoichiometric`` as bool; true/false, 1/0 (numbers or text) are accepted, anything else refused."""
    truth = {'true': True, 'false': False, '1': True, '0': False, '1.0': True, '0.0': False}

    def convert(value):
        if isinstance(value, bool | np.bool_):
            return bool(value)
        text = str(value).strip().lower()
        if text not in truth:
            raise TableColumnsError(f'stoichiometric must be true or false, not {value!r}')
        return truth[text]

    return values.map(convert).astype(bool)


def validate_columns(columns, extra_columns: str = 'refuse', keep=()) -> list[str]:
    """Check the columns of a table file; return the unknown columns that are to be ignored.

    :param columns: the column names of the file, the index ``row_uuid`` included when present.
    :param extra_columns: ``'refuse'`` (default) or ``'ignore'`` unknown columns.
    :param keep: columns beyond the table's that are asked for (a target, identifiers): never refused,
        and each must be present.
    :raises TableColumnsError: naming the missing required columns and, unless ignored, the unknown ones.
    """
    if extra_columns not in ('refuse', 'ignore'):
        raise ValueError(f"extra_columns must be 'refuse' or 'ignore', not {extra_columns!r}")
    columns = [str(column) for column in columns]
    known = {*TABLE_COLUMNS, INDEX_COLUMN, *keep}
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    not_there = [column for column in keep if column not in columns and column != INDEX_COLUMN]
    unknown = [column for column in columns if column not in known]
    problems = []
    if missing:
        problems.append(f'missing required columns: {", ".join(missing)}')
    if not_there:
        problems.append(f'no column {", ".join(not_there)} in the table (named by an option; --join adds columns)')
    if unknown and extra_columns == 'refuse':
        problems.append(
            f'unknown columns: {", ".join(unknown)} '
            '(name the ones to use with --keep-columns or --target-column, or pass --extra-columns ignore '
            '(extra_columns="ignore") to skip them)'
        )
    if problems:
        raise TableColumnsError('; '.join(problems))
    return unknown


def write_table(table: pd.DataFrame, path: str | pathlib.Path, extra_columns=()) -> pathlib.Path:
    """Write the table to ``.csv`` or ``.parquet`` (chosen by the suffix), ``row_uuid`` as the first column.

    CSV keeps every float exactly (shortest round-trip representation); NaN is an empty field.

    :raises ValueError: for another suffix.
    :raises MissingDependencyError: for Parquet without pyarrow.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f'{path}: a table file is .csv or .parquet, not {path.suffix or "without a suffix"}')
    table = normalise_table(table, extra_columns)
    if suffix == '.csv':
        table.to_csv(path, index=True, index_label=INDEX_COLUMN)
    else:
        _require_pyarrow()
        table.to_parquet(path, index=True, engine='pyarrow')
    return path


def read_table(path: str | pathlib.Path, extra_columns: str = 'refuse', keep=()) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (or by hand, with the same columns) and check it.

    The identifier columns and the 54 descriptor columns are required (a descriptor nobody has is
    a column of empty values, not a missing column); ``row_uuid``, ``workchain_uuid`` and
    ``structure_uuid`` are optional. Without ``row_uuid`` the rows are named ``line-<n>`` after
    their line in the file (n = 2 for the first data line of a CSV).

    :param extra_columns: ``'refuse'`` (default) unknown columns, or ``'ignore'`` them (they are dropped).
    :param keep: columns beyond the table's to keep (a target, identifiers such as a structure label).
    :raises FileNotFoundError: when there is no such file.
    :raises TableColumnsError: naming missing or unknown columns, or values of the wrong kind.
    :raises MissingDependencyError: for Parquet without pyarrow.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f'{path}: a table file is .csv or .parquet, not {path.suffix or "without a suffix"}')
    if not path.is_file():
        raise FileNotFoundError(f'no table file {path}')
    if suffix == '.csv':
        # Text columns as text (a model named "1" stays a string); the numbers are checked by normalise_table.
        text = (*TEXT_IDENTIFIERS, *TEXT_TRUST_COLUMNS, *PROVENANCE_COLUMNS)
        frame = pd.read_csv(path, dtype=dict.fromkeys(text, 'str'))
    else:
        _require_pyarrow()
        frame = pd.read_parquet(path, engine='pyarrow')
        if frame.index.name == INDEX_COLUMN:
            frame = frame.reset_index()
    validate_columns(frame.columns, extra_columns, keep)
    if INDEX_COLUMN in frame.columns:
        frame = frame.set_index(INDEX_COLUMN)
    else:
        frame.index = [f'line-{line}' for line in range(2, len(frame) + 2)]
    try:
        return normalise_table(frame, [column for column in keep if column != INDEX_COLUMN])
    except TableColumnsError as exception:
        raise TableColumnsError(f'{path}: {exception}') from exception


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exception:
        raise MissingDependencyError(
            'Parquet files need pyarrow: install it (`pip install pyarrow`), or use a .csv file'
        ) from exception


def engine_model_pairs(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The distinct (engine, model) pairs of the table's rows, sorted."""
    pairs = table.loc[:, ['engine', 'model']].drop_duplicates()
    return sorted((str(engine), str(model)) for engine, model in pairs.itertuples(index=False))


def check_single_source(table: pd.DataFrame, allow_mixed: bool = False) -> bool:
    """Refuse to pool rows of different engines or models unless asked; return whether the table is mixed.

    A universal ML potential gives softer frequencies and larger D than DFT: pooled silently, the
    two would make correlations that belong to neither.

    :raises MixedSourcesError: when there is more than one (engine, model) pair and ``allow_mixed`` is false.
    """
    pairs = engine_model_pairs(table)
    mixed = len(pairs) > 1
    if mixed and not allow_mixed:
        listed = ', '.join(f'{engine}/{model} ({count} rows)' for (engine, model), count in _pair_counts(table).items())
        raise MixedSourcesError(
            f'the table mixes {len(pairs)} engine/model pairs: {listed}. Filter it to one (e.g. export with '
            '--engine), or pass allow_mixed=True (--allow-mixed) to pool them knowingly.'
        )
    return mixed


def _pair_counts(table: pd.DataFrame) -> dict[tuple[str, str], int]:
    counts = table.groupby(['engine', 'model'], sort=True).size()
    return {(str(engine), str(model)): int(count) for (engine, model), count in counts.items()}


class JoinError(ValueError):
    """A file to join cannot be joined: no such key column, repeated keys, or column names the table has."""


def read_any(path: str | pathlib.Path) -> pd.DataFrame:
    """A user's ``.csv`` or ``.parquet`` file as it is (no column checks)."""
    path = pathlib.Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise JoinError(f'{path}: a file to join is .csv or .parquet, not {path.suffix or "without a suffix"}')
    if not path.is_file():
        raise FileNotFoundError(f'no file {path}')
    if path.suffix.lower() == '.csv':
        return pd.read_csv(path)
    _require_pyarrow()
    frame = pd.read_parquet(path, engine='pyarrow')
    return frame.reset_index() if frame.index.name else frame


def _reduced_formula(value) -> str:
    """The reduced formula pymatgen makes of a formula (``Li14La6Zr4O24`` → ``Li7La3Zr2O12``); the text otherwise."""
    from pymatgen.core import Composition

    try:
        return Composition(str(value)).reduced_formula
    except (ValueError, KeyError, TypeError):
        return str(value).strip()


def join_columns(
    table: pd.DataFrame, other: pd.DataFrame, on: str, source: str = 'the file'
) -> tuple[pd.DataFrame, dict]:
    """Add the columns of ``other`` to the table, matched on the column ``on`` (a table column or ``row_uuid``).

    On ``formula`` both sides are compared as pymatgen's reduced formulas, so ``Li14La6Zr4O24``
    finds ``Li7La3Zr2O12``. A table row without a match gets NaN (counted and listed in the summary).

    :raises JoinError: for a key column missing on either side, repeated keys in ``other`` (one row per key:
        aggregate them first), or a column that the table already has.
    """
    if on not in other.columns:
        raise JoinError(f'{source} has no column {on!r} to join on (its columns: {", ".join(map(str, other.columns))})')
    keys = pd.Series(table.index, index=table.index) if on == INDEX_COLUMN else table.get(on)
    if keys is None:
        raise JoinError(
            f'the table has no column {on!r} to join on: use formula, row_uuid, structure_uuid or a kept column'
        )
    other = other.copy()
    normalise = _reduced_formula if on == 'formula' else (lambda value: str(value).strip())
    other['_key'] = other[on].map(normalise)
    repeated = other.loc[other['_key'].duplicated(keep=False), on].astype(str).unique().tolist()
    if repeated:
        raise JoinError(
            f'{source} has several rows for {len(repeated)} values of {on!r} (e.g. {", ".join(repeated[:3])}): '
            'one row per key; aggregate them first (e.g. their median)'
        )
    columns = [column for column in other.columns if column not in (on, '_key')]
    clash = [column for column in columns if column in table.columns or column == INDEX_COLUMN]
    if clash:
        raise JoinError(f'{source} has columns the table already has: {", ".join(map(str, clash))}; rename them')
    matched = keys.map(normalise).map(other.set_index('_key')[columns].to_dict(orient='index'))
    joined = table.copy()
    for column in columns:
        joined[column] = matched.map(
            lambda values, column=column: np.nan if not isinstance(values, dict) else values[column]
        )
        converted = pd.to_numeric(joined[column], errors='coerce')
        if not (converted.isna() & joined[column].notna()).any():
            joined[column] = converted.astype('float64')
    unmatched = keys[matched.isna()].astype(str).unique().tolist()
    summary = {
        'file': source,
        'on': on,
        'columns': columns,
        'rows_matched': int(matched.notna().sum()),
        'rows_unmatched': int(matched.isna().sum()),
        'unmatched_keys': unmatched[:20],
        'file_rows_unused': int((~other['_key'].isin(set(keys.map(normalise)))).sum()),
    }
    return joined, summary
