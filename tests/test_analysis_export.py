"""The descriptor table from an AiiDA profile: rows made by ``merge_descriptors``, filters, groups, the CLI."""

from __future__ import annotations

import importlib.util
import uuid

import numpy as np
import pandas as pd
import pytest
from aiida import orm
from aiida.engine import run_get_node
from analysis_workchains import RowWorkChain
from click.testing import CliRunner

from aiida_superionic.analysis.export import NoDescriptorRowsError, export_table
from aiida_superionic.analysis.table import TABLE_COLUMNS, read_table
from aiida_superionic.calculations.functions.merge_descriptors import merge_descriptors
from aiida_superionic.cli import cmd_root


def identifiers(engine: str, formula: str, temperature: float, species: str = 'Li', stoichiometric: bool = True):
    return {
        'formula': formula,
        'mobile_species': species,
        'mobile_family': {'Li': 'Li', 'Na': 'Na'}[species],
        'temperature_K': temperature,
        'stoichiometric': stoichiometric,
        'engine': engine,
        'model': 'test-model',
        'protocol': 'fast',
    }


@pytest.fixture(scope='module')
def stored_rows():
    """Rows of a unique engine name (the session profile has other tests' rows): 3 direct, 2 from workchains.

    :return: ``(engine, {name: row node}, {name: workchain node}, structure, groups)``.
    """
    engine = f'export-test-{uuid.uuid4().hex[:8]}'
    rows, workchains = {}, {}
    for name, (formula, temperature, species) in {
        'direct_li_400': ('Li3N', 400.0, 'Li'),
        'direct_li_800': ('Li3N', 800.0, 'Li'),
        'direct_na_600': ('Na3PS4', 600.0, 'Na'),
    }.items():
        descriptors = {'diffusion_coefficient_cm2_s': 1e-6 * temperature / 400, 'msd_A2': 2.0, 'haven_ratio': 0.5}
        if name == 'direct_li_400':  # a flagged run, with the trust keys a trajectory analysis gives
            descriptors.update(
                diffusivity_verdict='too_few_hops',
                diffusivity_reason='2 hops',
                diffusion_coefficient_std_cm2_s=3e-6,
                mobile_ion_hops=2,
                analysed_time_ps=4.5,
                mobile_ions=24,
                kinetic_temperature_K=395.0,
            )
        rows[name] = merge_descriptors(
            identifiers=orm.Dict(identifiers(engine, formula, temperature, species)), trajectory=orm.Dict(descriptors)
        )
    structure = orm.StructureData(cell=np.eye(3) * 3.8)
    for position, symbol in (((0, 0, 0), 'N'), ((0, 0, 1.9), 'Li'), ((1.9, 1.9, 0), 'Li'), ((1.9, 0, 1.9), 'Li')):
        structure.append_atom(position=position, symbols=symbol)
    structure.store()
    for name, temperature in {'workchain_li_600': 600.0, 'workchain_li_1000': 1000.0}.items():
        results, node = run_get_node(
            RowWorkChain,
            structure=structure,
            identifiers=orm.Dict(identifiers(engine, 'Li3N', temperature, stoichiometric=False)),
            descriptors=orm.Dict({'diffusion_coefficient_cm2_s': 3e-6, 'band_gap_eV': None}),
        )
        assert node.is_finished_ok, node.exit_status
        rows[name], workchains[name] = results['row'], node

    row_group = orm.Group(label=f'{engine}-rows').store()
    row_group.add_nodes([rows['direct_li_400']])
    workchain_group = orm.Group(label=f'{engine}-workchains').store()
    workchain_group.add_nodes([workchains['workchain_li_600']])
    empty_group = orm.Group(label=f'{engine}-empty').store()
    empty_group.add_nodes([structure])
    return engine, rows, workchains, structure, {'rows': row_group, 'workchains': workchain_group, 'empty': empty_group}


def test_export_reads_every_row_with_its_workchain_and_structure(stored_rows):
    engine, rows, workchains, structure, _ = stored_rows
    table = export_table(engine=engine)

    assert list(table.columns) == list(TABLE_COLUMNS)
    assert table.index.name == 'row_uuid'
    assert set(table.index) == {node.uuid for node in rows.values()}
    direct = table.loc[rows['direct_li_400'].uuid]
    assert direct['diffusion_coefficient_cm2_s'] == 1e-6
    assert direct['formula'] == 'Li3N'
    assert direct['stoichiometric']
    assert pd.isna(direct['bulk_modulus_GPa'])  # no elastic calculation: NaN, never zero
    assert pd.isna(direct['workchain_uuid'])  # merge_descriptors called directly: no caller
    assert pd.isna(direct['structure_uuid'])
    for name, workchain in workchains.items():
        row = table.loc[rows[name].uuid]
        assert row['workchain_uuid'] == workchain.uuid
        assert row['structure_uuid'] == structure.uuid
        assert not row['stoichiometric']
        assert pd.isna(row['band_gap_eV'])
    assert 'haven_ratio' not in table.columns  # beyond the 54: stays in its source node
    # The trust columns: what says whether D can be believed, in the exported table too.
    assert direct['diffusivity_verdict'] == 'too_few_hops'
    assert (direct['diffusion_coefficient_std_cm2_s'], direct['mobile_ion_hops']) == (3e-6, 2.0)
    assert (direct['md_analysed_ps'], direct['mobile_ions'], direct['kinetic_temperature_K']) == (4.5, 24.0, 395.0)
    assert direct['protocol_overrides'] == '{}'
    assert pd.isna(table.loc[rows['direct_li_800'].uuid, 'diffusivity_verdict'])  # no verdict given: absent


def test_export_filters_inside_the_query(stored_rows):
    engine, rows, *_ = stored_rows
    sodium = export_table(engine=engine, mobile_species='Na')
    assert list(sodium.index) == [rows['direct_na_600'].uuid]

    window = export_table(engine=engine, temperature_range=(500, 800))
    assert set(window['temperature_K']) == {600.0, 800.0}
    assert len(window) == 3  # Li 600 (workchain), Li 800, Na 600; the bounds are inclusive
    open_above = export_table(engine=engine, temperature_range=(800, None))
    assert sorted(open_above['temperature_K']) == [800.0, 1000.0]
    assert len(export_table(engine=engine, model='test-model')) == 5


def test_export_by_group_keeps_rows_in_it_or_made_by_a_workchain_in_it(stored_rows):
    _, rows, _, _, groups = stored_rows
    in_group = export_table(group=groups['rows'])
    assert list(in_group.index) == [rows['direct_li_400'].uuid]
    by_workchain = export_table(group=groups['workchains'].label)  # a label works as well as the group
    assert list(by_workchain.index) == [rows['workchain_li_600'].uuid]
    assert by_workchain['structure_uuid'].notna().all()


def test_export_refuses_an_empty_selection_with_a_clear_message(stored_rows, aiida_profile):
    engine, *_, groups = stored_rows
    with pytest.raises(NoDescriptorRowsError, match=rf"profile '{aiida_profile.name}'.*mobile_species='Cu'"):
        export_table(engine=engine, mobile_species='Cu')
    with pytest.raises(NoDescriptorRowsError, match=f"group '{groups['empty'].label}'"):
        export_table(group=groups['empty'])
    with pytest.raises(NoDescriptorRowsError, match='2000 K <= T'):
        export_table(engine=engine, temperature_range=(2000, None))


def test_cli_export_writes_the_table_and_refuses_empty_selections(stored_rows, aiida_profile, tmp_path):
    engine, rows, *_ = stored_rows
    runner = CliRunner()
    output = tmp_path / 'table.csv'
    result = runner.invoke(cmd_root, ['export', str(output), '-p', aiida_profile.name, '--engine', engine])
    assert result.exit_code == 0, result.output
    assert 'Wrote 5 rows' in result.output
    table = read_table(output)
    assert set(table.index) == {node.uuid for node in rows.values()}
    header = output.read_text().splitlines()[0].split(',')
    assert {'diffusivity_verdict', 'diffusion_coefficient_std_cm2_s', 'mobile_ion_hops', 'md_analysed_ps'} <= set(
        header
    )
    assert table.loc[rows['direct_li_400'].uuid, 'diffusivity_verdict'] == 'too_few_hops'  # through the file

    result = runner.invoke(cmd_root, ['export', str(output), '--engine', engine])
    assert result.exit_code != 0
    assert 'exists' in result.output

    result = runner.invoke(cmd_root, ['export', str(tmp_path / 'li.parquet'), '--engine', engine, '--t-min', '700'])
    if importlib.util.find_spec('pyarrow') is None:
        assert result.exit_code == 1
        assert 'Parquet files need pyarrow' in result.output
    else:
        assert result.exit_code == 0, result.output
        assert 'Wrote 2 rows' in result.output
        parquet = read_table(tmp_path / 'li.parquet')
        assert sorted(parquet['temperature_K']) == [800.0, 1000.0]
        assert 'kinetic_temperature_K' in parquet.columns
        assert 'protocol_overrides' in parquet.columns

    result = runner.invoke(
        cmd_root, ['export', str(tmp_path / 'none.csv'), '--engine', engine, '--mobile-species', 'Ag']
    )
    assert result.exit_code == 1
    assert 'no descriptor rows' in result.output
    assert "mobile_species='Ag'" in result.output
    assert not (tmp_path / 'none.csv').exists()

    result = runner.invoke(cmd_root, ['export', str(tmp_path / 'none.csv'), '-G', 'no-such-group-label'])
    assert result.exit_code == 1
    assert "no group 'no-such-group-label'" in result.output

    result = runner.invoke(cmd_root, ['export', str(tmp_path / 'table.xlsx')])
    assert result.exit_code == 2
    assert '.csv or .parquet' in result.output
