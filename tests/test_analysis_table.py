"""The table: columns and types, CSV/Parquet round trips, validation, mixed engines; the pure modules stay pure."""

from __future__ import annotations

import builtins
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from analysis_tables import ENGINE_CANNOT_GIVE, mixed_table, planted_table

from aiida_superionic.analysis.table import (
    REQUIRED_COLUMNS,
    TABLE_COLUMNS,
    MissingDependencyError,
    MixedSourcesError,
    TableColumnsError,
    check_single_source,
    engine_model_pairs,
    read_table,
    write_table,
)
from aiida_superionic.common.trust import TRUST_COLUMNS
from aiida_superionic.descriptors.keys import DESCRIPTOR_KEYS, IDENTIFIER_KEYS


@pytest.fixture(scope='module')
def table():
    return planted_table()


def test_the_table_has_identifiers_the_54_descriptors_trust_columns_and_provenance():
    provenance = {'workchain_uuid', 'structure_uuid'}
    assert set(TABLE_COLUMNS) == set(DESCRIPTOR_KEYS) | set(IDENTIFIER_KEYS) | set(TRUST_COLUMNS) | provenance
    # `stoichiometric` is both kinds: one column
    assert len(TABLE_COLUMNS) == 54 + len(IDENTIFIER_KEYS) - 1 + len(TRUST_COLUMNS) + 2
    assert not set(TRUST_COLUMNS) & set(DESCRIPTOR_KEYS)  # the evidence beside the 54, not among them
    assert set(REQUIRED_COLUMNS) == set(DESCRIPTOR_KEYS) | set(IDENTIFIER_KEYS)


@pytest.mark.parametrize('suffix', ['.csv', '.parquet'])
def test_a_table_round_trips_exactly(table, tmp_path, suffix):
    if suffix == '.parquet':
        pytest.importorskip('pyarrow', reason='pyarrow is not installed')
    path = write_table(table, tmp_path / f'table{suffix}')
    back = read_table(path)
    pd.testing.assert_frame_equal(
        back, table, check_exact=True
    )  # floats bit for bit, NaN as NaN, bool as bool, UUID index
    assert back[list(ENGINE_CANNOT_GIVE)].isna().all().all()
    assert back['stoichiometric'].dtype == bool


def test_reading_names_missing_and_unknown_columns(table, tmp_path):
    path = tmp_path / 'edited.csv'
    edited = table.drop(columns=['band_gap_eV', 'engine']).assign(my_note='x', another=1.0)
    edited.to_csv(path, index_label='row_uuid')
    with pytest.raises(TableColumnsError) as error:
        read_table(path)
    message = str(error.value)
    assert 'missing required columns: engine, band_gap_eV' in message
    assert 'unknown columns: my_note, another' in message

    table.assign(my_note='x').to_csv(path, index_label='row_uuid')
    with pytest.raises(TableColumnsError, match='unknown columns: my_note'):
        read_table(path)
    back = read_table(path, extra_columns='ignore')  # asked for: the extra column is dropped
    assert 'my_note' not in back.columns
    assert len(back) == len(table)


def test_reading_refuses_wrong_values_naming_the_column(table, tmp_path):
    path = tmp_path / 'bad.csv'
    bad = table.astype({'bulk_modulus_GPa': object}).copy()
    bad.iloc[0, bad.columns.get_loc('bulk_modulus_GPa')] = 'soft'
    bad.to_csv(path, index_label='row_uuid')
    with pytest.raises(TableColumnsError, match=r"\['bulk_modulus_GPa'\] hold values that are not numbers"):
        read_table(path)

    missing_model = table.copy()
    missing_model.iloc[3, missing_model.columns.get_loc('model')] = np.nan
    missing_model.to_csv(path, index_label='row_uuid')
    with pytest.raises(TableColumnsError, match=r"identifier columns \['model'\] have empty values"):
        read_table(path)


def test_a_table_without_uuids_is_read_with_line_names(table, tmp_path):
    path = tmp_path / 'by_hand.csv'
    table.drop(columns=['workchain_uuid', 'structure_uuid']).to_csv(path, index=False)
    back = read_table(path)
    assert list(back.index[:2]) == ['line-2', 'line-3']
    assert back['workchain_uuid'].isna().all()
    np.testing.assert_array_equal(back['diffusion_coefficient_cm2_s'], table['diffusion_coefficient_cm2_s'])


def test_parquet_without_pyarrow_says_what_to_install(table, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pyarrow(name, *arguments, **options):
        if name == 'pyarrow' or name.startswith('pyarrow.'):
            raise ImportError('No module named pyarrow')
        return real_import(name, *arguments, **options)

    monkeypatch.setattr(builtins, '__import__', no_pyarrow)
    with pytest.raises(MissingDependencyError, match='install it'):
        write_table(table, tmp_path / 'table.parquet')
    with pytest.raises(ValueError, match=r'\.csv or \.parquet'):
        write_table(table, tmp_path / 'table.xlsx')


def test_mixed_engines_are_refused_unless_allowed():
    table = mixed_table()
    assert engine_model_pairs(table) == [('ase', 'planted-potential'), ('vasp', 'PBE')]
    with pytest.raises(MixedSourcesError, match=r'mixes 2 engine/model pairs: ase/planted-potential .*vasp/PBE'):
        check_single_source(table)
    assert check_single_source(table, allow_mixed=True) is True
    assert check_single_source(planted_table()) is False


def test_two_potentials_of_the_ase_engine_are_refused_like_two_engines():
    """Rows of CHGNet and SevenNet (one engine, two ``model`` labels) never pool silently."""
    table = planted_table()
    half = table.index[: len(table) // 2]
    table['model'] = 'chgnet 0.3.0'
    table.loc[half, 'model'] = 'sevenn 7net-0'
    with pytest.raises(MixedSourcesError, match=r'ase/chgnet 0.3.0 .*ase/sevenn 7net-0'):
        check_single_source(table)


def test_the_analysis_functions_refuse_mixed_tables_too():
    from aiida_superionic.analysis.ml import cross_validate
    from aiida_superionic.analysis.statistics import select_near_temperature

    table = mixed_table()
    with pytest.raises(MixedSourcesError):
        select_near_temperature(table)
    with pytest.raises(MixedSourcesError):
        cross_validate(table, 'diffusion_coefficient_cm2_s', 'kernel_ridge')
    # Pooled knowingly, each engine keeps its own row of a material: different measurements, not repeats.
    selected = select_near_temperature(table, allow_mixed=True)
    lithium = selected[selected['mobile_species'] == 'Li']
    assert set(lithium['engine']) == {'ase', 'vasp'}
    assert len(lithium) == 2 * len(select_near_temperature(planted_table()).query("mobile_species == 'Li'"))


def test_the_pure_analysis_modules_do_not_import_aiida():
    """AiiDA is imported only by analysis/export.py and the CLI: a table from a file needs no profile."""
    modules = [
        'aiida_superionic.analysis',
        'aiida_superionic.analysis.table',
        'aiida_superionic.analysis.statistics',
        'aiida_superionic.analysis.classes',
        'aiida_superionic.analysis.ml',
        'aiida_superionic.analysis.figures',
        'aiida_superionic.analysis.report',
        'aiida_superionic.analysis.plots',
    ]
    code = (
        'import importlib, sys\n'
        f'for name in {modules!r}:\n'
        '    importlib.import_module(name)\n'
        "sys.exit(1 if any(n == 'aiida' or n.startswith('aiida.') for n in sys.modules) else 0)\n"
    )
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
