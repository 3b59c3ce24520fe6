"""Which rows the statistics use: flagged D kept out, one row per material near a temperature, stated rules.

Pure pandas on a table of :mod:`.table`.

**Flagged D.** A row whose ``diffusivity_verdict`` is not ``'diffusive'`` (too few hops, MSD not
linear) has a D that is no measurement. :func:`mask_flagged_diffusion` sets its D to NaN, so it
enters nothing that uses D: correlations with D are pairwise complete (the row is left out of
them, and only of them), the PCA and the ML treat it as a missing value (the NaN policy: the
default ``drop_columns`` leaves D out of the PCA and the ML inputs, and as the ML target the row
is left out). Rows without a verdict (a table typed in from a paper) are taken as given and
counted. ``include_flagged`` puts the flagged values back.

**Selection** (:func:`select_rows`): per material and composition (``formula``,
``stoichiometric``, and ``engine``/``model`` in a mixed table) the rows with
``|T − temperature_K| ≤ window_K``; of those the temperature closest to ``temperature_K`` (a tie
between a lower and a higher one: the lower, the run furthest from melting). Several rows at
that temperature (repeated runs, several measurements of one compound) are one row of the
selection: the **median** of every numeric column (NaN skipped), the most frequent
``space_group``, text columns kept when they agree and joined by a vertical bar when they do not. Its
name is ``median-of-<n>:<first row_uuid>``. Every row set aside is counted by reason.
``all_rows`` skips the selection (every row, every temperature, enters the statistics).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..common.trust import TRUSTED_VERDICT, VERDICT_MEANINGS
from .table import check_single_source

#: The key D that a flagged verdict keeps out.
DIFFUSION_KEY = 'diffusion_coefficient_cm2_s'

#: What a row of the selection stands for: a material, a composition, and the engine and model that computed it.
SELECTION_KEYS = ('formula', 'stoichiometric', 'engine', 'model')

#: How several rows of one material at the chosen temperature become one.
AGGREGATE = 'median'

#: Columns that are categories: their most frequent value, not a median.
CATEGORY_COLUMNS = ('space_group',)


class EmptySelectionError(ValueError):
    """The selection kept no row: the message names the window, the table's temperatures and the ways out."""


def flagged_mask(table: pd.DataFrame) -> pd.Series:
    """True for the rows whose verdict flags D (a verdict that is present and not ``'diffusive'``)."""
    if 'diffusivity_verdict' not in table.columns:
        return pd.Series(False, index=table.index)
    verdict = table['diffusivity_verdict']
    return verdict.notna() & (verdict.astype(str) != TRUSTED_VERDICT)


def mask_flagged_diffusion(table: pd.DataFrame, include_flagged: bool = False) -> tuple[pd.DataFrame, dict]:
    """The table with D set to NaN in flagged rows (unless ``include_flagged``), and what was done, for the report."""
    flagged = flagged_mask(table)
    has_verdict = table['diffusivity_verdict'].notna() if 'diffusivity_verdict' in table.columns else flagged
    rows = []
    for name, row in table.loc[flagged].iterrows():
        verdict = str(row['diffusivity_verdict'])
        reason = row.get('diffusivity_reason')
        rows.append(
            {
                'row_uuid': str(name),
                'formula': row['formula'],
                'temperature_K': float(row['temperature_K']),
                'stoichiometric': bool(row['stoichiometric']),
                'diffusivity_verdict': verdict,
                'reason': reason if isinstance(reason, str) else VERDICT_MEANINGS.get(verdict, verdict),
                'diffusion_coefficient_cm2_s': _float(row[DIFFUSION_KEY]),
            }
        )
    summary = {
        'include_flagged': include_flagged,
        'rule': f'a row whose diffusivity_verdict is not {TRUSTED_VERDICT!r} has its D left out of the correlations, '
        'the PCA, k-means and the ML (as a missing value)'
        + ('; --include-flagged puts them back: they are IN this analysis' if include_flagged else ''),
        'rows_flagged': int(flagged.sum()),
        'rows_without_verdict': int((~has_verdict).sum()),
        'flagged': rows,
    }
    if include_flagged or not flagged.any():
        return table, summary
    masked = table.copy()
    masked.loc[flagged, DIFFUSION_KEY] = np.nan
    return masked, summary


def select_rows(
    table: pd.DataFrame,
    temperature_K: float,
    window_K: float,
    all_rows: bool = False,
    allow_mixed: bool = False,
    value_columns=(),
) -> tuple[pd.DataFrame, dict]:
    """The rows of the statistics and a summary of what was kept, merged and set aside (module docstring).

    :param value_columns: columns whose spread over merged rows is reported (e.g. the target).
    :raises EmptySelectionError: when no row is kept.
    :raises MixedSourcesError: for several (engine, model) pairs without ``allow_mixed``.
    """
    check_single_source(table, allow_mixed)
    if table.empty:
        raise EmptySelectionError('the table has no rows')
    if all_rows:
        summary = {
            'mode': 'all rows',
            'rule': 'every row of every temperature (no selection, --all-rows): rows of one material at several '
            'temperatures enter as separate rows',
            'rows_in_table': len(table),
            'rows_selected': len(table),
            'materials_selected': int(table['formula'].nunique()),
            'set_aside': {'outside_window': 0, 'other_temperature': 0, 'merged': 0},
            'merged': [],
            'left_out': [],
        }
        return table, summary

    keys = list(SELECTION_KEYS)
    distance = (table['temperature_K'] - temperature_K).abs()
    inside = table.loc[distance <= window_K * (1 + 1e-12)]
    if inside.empty:
        low, high = table['temperature_K'].min(), table['temperature_K'].max()
        raise EmptySelectionError(
            f'no row within {temperature_K:g} ± {window_K:g} K (the table runs from {low:g} K to {high:g} K): '
            f'choose the temperature with --temperature {table["temperature_K"].median():g} (and '
            '--temperature-window), or use every row with --all-rows'
        )
    # The closest temperature per material; on a tie the lower one.
    chosen = (
        inside.assign(_distance=distance.loc[inside.index])
        .sort_values([*keys, '_distance', 'temperature_K'], kind='stable')
        .groupby(keys, sort=False)['temperature_K']
        .first()
    )
    at_chosen = inside.join(chosen.rename('_chosen_K'), on=keys)
    at_chosen = at_chosen.loc[at_chosen['temperature_K'] == at_chosen['_chosen_K']].drop(columns='_chosen_K')

    selected_rows, merged = [], []
    for group_key, rows in at_chosen.groupby(keys, sort=False):
        if len(rows) == 1:
            selected_rows.append(rows.iloc[0])
            continue
        row = _aggregate(rows)
        selected_rows.append(row)
        merged.append(_merge_record(group_key, rows, row.name, value_columns))
    selected = pd.DataFrame(selected_rows)
    selected.index.name = table.index.name
    selected = selected.astype({column: table[column].dtype for column in table.columns if column in selected})
    order = {name: position for position, name in enumerate(table.index)}
    selected = selected.iloc[np.argsort([order.get(name.split(':', 1)[-1], 0) for name in selected.index])]

    kept = set(selected.loc[:, keys].itertuples(index=False, name=None))
    left_out = [
        dict(zip(keys, (formula, bool(stoichiometric), engine, model), strict=True))
        for formula, stoichiometric, engine, model in table.loc[:, keys].drop_duplicates().itertuples(index=False)
        if (formula, stoichiometric, engine, model) not in kept
    ]
    summary = {
        'mode': 'temperature window',
        'temperature_K': temperature_K,
        'window_K': window_K,
        'rule': 'per formula and stoichiometric flag (and engine and model), the rows at the temperature closest to '
        f'{temperature_K:g} K within ± {window_K:g} K (a tie: the lower temperature); several rows at that '
        f'temperature become one, the {AGGREGATE} of each numeric column (space_group: the most frequent)',
        'rows_in_table': len(table),
        'rows_selected': len(selected),
        'materials_selected': int(selected['formula'].nunique()),
        'set_aside': {
            'outside_window': int(len(table) - len(inside)),
            'other_temperature': int(len(inside) - len(at_chosen)),
            'merged': int(len(at_chosen) - len(selected)),
        },
        'merged': merged,
        'left_out': left_out,
    }
    return selected, summary


def describe_selection(summary: dict) -> str:
    """One sentence of what the selection kept and set aside (for the command line and the page)."""
    if summary['mode'] == 'all rows':
        return f'all {summary["rows_selected"]} rows (--all-rows) for the statistics'
    aside = summary['set_aside']
    return (
        f'{summary["rows_selected"]} rows of {summary["materials_selected"]} materials near '
        f'{summary["temperature_K"]:g} K for the statistics (set aside: {aside["outside_window"]} outside '
        f'± {summary["window_K"]:g} K, {aside["other_temperature"]} at a temperature further from it, '
        f'{aside["merged"]} merged into median rows)'
    )


def _aggregate(rows: pd.DataFrame) -> pd.Series:
    """One row from several of one material at one temperature: medians, the most frequent category, agreed text."""
    values = {}
    for column in rows.columns:
        series = rows[column]
        if column in CATEGORY_COLUMNS:
            modes = series.dropna().mode()
            values[column] = modes.iloc[0] if len(modes) else np.nan
        elif pd.api.types.is_bool_dtype(series):
            values[column] = bool(series.iloc[0])
        elif pd.api.types.is_numeric_dtype(series):
            values[column] = series.median(skipna=True)
        else:
            distinct = list(dict.fromkeys(str(value) for value in series.dropna()))
            values[column] = ' | '.join(distinct) if distinct else np.nan
    return pd.Series(values, name=f'{AGGREGATE}-of-{len(rows)}:{rows.index[0]}')


def _merge_record(group_key, rows: pd.DataFrame, name: str, value_columns) -> dict:
    record = {
        'row': name,
        'formula': group_key[0],
        'stoichiometric': bool(group_key[1]),
        'temperature_K': float(rows['temperature_K'].iloc[0]),
        'rows': [str(index) for index in rows.index],
        'spread': {},
    }
    for column in value_columns:
        if column not in rows.columns or not pd.api.types.is_numeric_dtype(rows[column]):
            continue
        present = rows[column].dropna()
        if present.empty:
            continue
        spread = {'min': float(present.min()), 'max': float(present.max()), 'median': float(present.median())}
        if (present > 0).all():
            spread['decades'] = float(np.log10(present.max() / present.min()))
        record['spread'][column] = spread
    return record


def _float(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
