"""The analysis on planted tables where the right answer is known: flagged D, several rows of one material,
a categorical column, an external target joined from the user's file, identical feature sets, the selection."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest
from analysis_tables import FORMULAS, planted_table
from click.testing import CliRunner

from aiida_superionic.analysis.report import write_report
from aiida_superionic.analysis.selection import EmptySelectionError, mask_flagged_diffusion, select_rows
from aiida_superionic.analysis.statistics import CORRELATION_KEYS, categorical_associations
from aiida_superionic.analysis.table import JoinError, join_columns, read_table, write_table
from aiida_superionic.cli import cmd_root
from aiida_superionic.descriptors.keys import DIFFUSIVE_VIBRATIONAL_KEYS

D = 'diffusion_coefficient_cm2_s'
GAMMA = 'lindemann_ratio'
QUICK = {'n_bootstrap': 0, 'folds': 3, 'max_iter': 5, 'hidden_layer_sizes': (8,), 'draw_figures': False}


@pytest.fixture(scope='module')
def table():
    return planted_table()


def flagged_table(table: pd.DataFrame) -> pd.DataFrame:
    """The planted table (D = 1e-9 exp(60 γ): ρ(D, γ) = 1) with the rows of 30 of its 36 materials flagged
    ``too_few_hops`` and their D planted to fall as γ rises: with them the correlation turns negative."""
    flagged = table.copy()
    flagged['diffusivity_verdict'] = 'diffusive'
    bad = flagged['formula'].isin(FORMULAS[6:])
    flagged.loc[bad, 'diffusivity_verdict'] = 'too_few_hops'
    flagged.loc[bad, 'diffusivity_reason'] = 'fewer hops than 10'
    flagged.loc[bad, D] = 1e3 * np.exp(-200.0 * flagged.loc[bad, GAMMA])
    return flagged


def spearman_with(report: dict, descriptor: str) -> float:
    return next(row for row in report['target_correlations']['all']['spearman'] if row['descriptor'] == descriptor)


def test_flagged_rows_that_would_flip_a_correlation_are_left_out(table, tmp_path):
    flagged = flagged_table(table)
    report = write_report(flagged, tmp_path / 'default', ml=False, **QUICK)
    kept = spearman_with(report, GAMMA)
    assert kept['coefficient'] == pytest.approx(1.0)  # the planted law, on the diffusive rows only
    diffusive = select_rows(flagged, 500.0, 100.0)[0]['diffusivity_verdict'] == 'diffusive'
    assert kept['n_rows'] == diffusive.sum() == 2 * 6  # both compositions of the 6 diffusive materials
    assert report['flagged']['rows_flagged'] == int((flagged['diffusivity_verdict'] == 'too_few_hops').sum())
    listed = report['flagged']['flagged'][0]
    assert listed['diffusivity_verdict'] == 'too_few_hops'
    assert listed['reason'] == 'fewer hops than 10'
    assert D in report['nan_policy']['dropped_for_nan']  # the PCA does not see a flagged D either
    page = (tmp_path / 'default' / 'index.html').read_text()
    assert 'rows have a flagged D' in page
    assert 'fewer hops than 10' in page

    report = write_report(flagged, tmp_path / 'included', ml=False, include_flagged=True, **QUICK)
    assert spearman_with(report, GAMMA)['coefficient'] < 0  # with them, the sign flips
    assert report['flagged']['include_flagged'] is True


def test_a_flagged_d_is_not_an_ml_target_or_input(table):
    flagged = flagged_table(table)
    masked, summary = mask_flagged_diffusion(flagged)
    assert masked.loc[flagged['diffusivity_verdict'] != 'diffusive', D].isna().all()
    assert masked.loc[flagged['diffusivity_verdict'] == 'diffusive', D].notna().all()
    assert summary['rows_without_verdict'] == 0
    # Rows without a verdict (a table from a paper) are taken as given, and counted.
    _, summary = mask_flagged_diffusion(table)
    assert summary['rows_flagged'] == 0
    assert summary['rows_without_verdict'] == len(table)


def test_several_rows_of_one_material_become_their_median_and_are_counted(table):
    repeats = table[(table['formula'] == FORMULAS[0]) & (table['temperature_K'] == 500.0) & table['stoichiometric']]
    copies = pd.concat([repeats] * 4)
    copies.index = [f'repeat-{index}' for index in range(4)]
    copies[D] = [1e-9, 1e-7, 1e-6, 1e-5]  # one formula spanning four decades
    rows = pd.concat([table, copies])
    selected, summary = select_rows(rows, 500.0, 100.0, value_columns=[D])
    merged = selected[(selected['formula'] == FORMULAS[0]) & selected['stoichiometric']]
    assert len(merged) == 1
    assert merged.index[0] == f'median-of-5:{repeats.index[0]}'
    assert merged[D].iloc[0] == pytest.approx(1e-7)  # the median of the five values, not the first row
    assert summary['set_aside']['merged'] == 4
    assert summary['set_aside']['outside_window'] == int(((rows['temperature_K'] - 500).abs() > 100).sum())
    record = summary['merged'][0]
    assert len(record['rows']) == 5
    assert record['spread'][D]['decades'] == pytest.approx(4.0)
    assert len(selected) == 70  # one row per material and composition, as without the repeats


def test_an_empty_selection_is_an_error_that_says_what_to_do(table, tmp_path):
    hot = table[table['temperature_K'] >= 700]
    with pytest.raises(EmptySelectionError, match=r'--temperature .* or use every row with --all-rows'):
        select_rows(hot, 500.0, 100.0)
    path = write_table(hot, tmp_path / 'hot.csv')
    result = CliRunner().invoke(cmd_root, ['analyze', str(path), '-o', str(tmp_path / 'report')])
    assert result.exit_code == 1
    assert 'no row within 500 ± 100 K (the table runs from 700 K to 1000 K)' in result.output
    assert 'Traceback' not in result.output
    assert not (tmp_path / 'report').exists()  # nothing written half-way
    # The same table at its own temperature, or every row.
    selected, summary = select_rows(hot, 900.0, 50.0)
    assert set(selected['temperature_K']) <= {900.0}
    selected, summary = select_rows(hot, 500.0, 100.0, all_rows=True)
    assert len(selected) == len(hot)
    assert summary['mode'] == 'all rows'


def test_the_space_group_is_a_category(table, tmp_path):
    rows = table.copy()
    # A target that depends on the space group only through its category (not monotonic in the number).
    offsets = {62.0: 3.0, 139.0: -2.0, 166.0: 5.0, 194.0: -4.0, 225.0: 0.0}
    rows['score'] = rows['space_group'].map(offsets) + np.random.default_rng(0).normal(0, 0.1, len(rows))
    assert 'space_group' not in CORRELATION_KEYS
    [test] = categorical_associations(rows, ['score'])
    assert test['category'] == 'space_group'
    assert test['groups'] == 5
    assert test['p_value'] < 1e-6
    assert test['epsilon_squared'] > 0.9
    report = write_report(rows, tmp_path, target='score', ml=False, **QUICK)
    assert report['target_correlations']['categorical'][0]['p_value'] < 1e-6
    assert 'space_group' not in report['correlations']['all']['spearman']['coefficient']
    one_hot = [name for name in report['pca']['descriptors'] if name.startswith('space_group=')]
    assert set(one_hot) == {f'space_group={int(number)}' for number in offsets}
    assert 'space_group' not in report['pca']['descriptors']
    assert 'score' not in report['pca']['descriptors']  # a target brought in does not enter the PCA unless asked


def conductivity_file(table: pd.DataFrame, path) -> pd.DataFrame:
    """A user's file: an 'experimental' log σ per material tied to two descriptors (γ and E_vac of its row closest
    to 500 K); none for FORMULAS[6], which has no row near 500 K."""
    rows = table[table['stoichiometric'] & (table['formula'] != FORMULAS[6])]
    closest = rows.assign(distance=(rows['temperature_K'] - 500.0).abs()).sort_values('distance')
    first = closest.groupby('formula').head(1).set_index('formula')
    log_sigma = -6.0 + 40.0 * first[GAMMA] - 1.0 * first['vacancy_formation_energy_eV'].fillna(1.5)
    frame = pd.DataFrame({'formula': first.index, 'sigma_S_cm': 10.0**log_sigma, 'label': 'exp'})
    frame.to_csv(path, index=False)
    return frame


def test_an_external_target_tied_to_two_descriptors_is_recovered(table, tmp_path):
    conductivity_file(table, tmp_path / 'conductivity.csv')
    joined, summary = join_columns(table, pd.read_csv(tmp_path / 'conductivity.csv'), 'formula')
    assert summary['rows_unmatched'] == int((table['formula'] == FORMULAS[6]).sum())  # not in the file
    report = write_report(
        joined, tmp_path / 'report', target='sigma_S_cm', log_target=True, models=('kernel_ridge',), **QUICK
    )
    ranked = [row['descriptor'] for row in report['target_correlations']['all']['spearman']]
    # γ (and D and msd, monotonic in it) and E_vac: the two descriptors σ was made of lead the ranking.
    assert {GAMMA, 'vacancy_formation_energy_eV'} <= set(ranked[:4])
    assert set(ranked[:4]) <= {GAMMA, 'vacancy_formation_energy_eV', D, 'msd_A2'}
    assert 'sigma_S_cm' not in report['pca']['descriptors']
    [validation] = report['ml']['validations'][:1]
    assert validation['target'] == 'sigma_S_cm'
    assert validation['fitted_target'] == 'log10(sigma_S_cm)'
    assert {'mae', 'rmse', 'mape', 'r2'} <= set(validation['test'])

    report = write_report(joined, tmp_path / 'pca', target='sigma_S_cm', ml=False, target_in_pca=True, **QUICK)
    assert 'sigma_S_cm' in report['pca']['descriptors']


def test_join_refusals(table):
    other = pd.DataFrame({'formula': [FORMULAS[0], FORMULAS[0]], 'sigma': [1.0, 2.0]})
    with pytest.raises(JoinError, match='several rows for 1 values'):
        join_columns(table, other, 'formula')
    with pytest.raises(JoinError, match="no column 'label'"):
        join_columns(table, other.iloc[:1], 'label')
    with pytest.raises(JoinError, match='columns the table already has: msd_A2'):
        join_columns(table, pd.DataFrame({'formula': [FORMULAS[0]], 'msd_A2': [1.0]}), 'formula')
    # Formulas match as reduced formulas.
    rows = table.iloc[:2].assign(formula='Li7La3Zr2O12')
    joined, summary = join_columns(rows, pd.DataFrame({'formula': ['Li14La6Zr4O24'], 'sigma': [1e-4]}), 'formula')
    assert summary['rows_matched'] == 2
    assert (joined['sigma'] == 1e-4).all()


def test_identical_feature_sets_are_trained_once(table, tmp_path):
    rows = table.copy()
    md_only = [key for key in DIFFUSIVE_VIBRATIONAL_KEYS if key not in ('lowest_optical_frequency_meV', D)]
    rows.loc[:, md_only] = np.nan  # no MD-derived input but D: 'harmonic' and 'anharmonic' inputs are the same
    report = write_report(rows, tmp_path, target='bulk_modulus_GPa', exclude=[D], **QUICK)
    assert report['ml']['same_inputs'] == {'harmonic': 'anharmonic'}
    trained = [(item['model'], item['feature_set']) for item in report['ml']['validations']]
    assert trained == [('mlp', 'anharmonic'), ('kernel_ridge', 'anharmonic'), ('random_forest', 'anharmonic')]
    assert 'Trained once: harmonic (the same inputs as anharmonic)' in (tmp_path / 'index.html').read_text()


def test_features_exclude_and_composition(table, tmp_path):
    report = write_report(
        table,
        tmp_path,
        target='p_wave_modulus_GPa',
        features=['bulk_modulus_GPa', 'shear_modulus_GPa', 'mobile_species'],
        models=('kernel_ridge', 'random_forest'),
        **QUICK,
    )
    [ridge, forest] = report['ml']['validations'][:2]
    assert ridge['numeric_inputs'] == ['bulk_modulus_GPa', 'shear_modulus_GPa']
    assert ridge['categorical_inputs'] == ['mobile_species']
    assert ridge['test']['r2'] > 0.95
    assert forest['model'] == 'random_forest'
    report = write_report(table, tmp_path / 'c', composition_features=True, models=('kernel_ridge',), **QUICK)
    assert 'composition features need chemical formulas' in report['ml']['feature_sets_not_trained']['composition']
    # Real formulas: element fractions as a feature set of their own.
    chemical = table.assign(formula=table['formula'].map(lambda name: f'Li{int(name[-3:-1]) + 1}PS4'))
    report = write_report(chemical, tmp_path / 'd', composition_features=True, models=('kernel_ridge',), **QUICK)
    composition = report['ml']['validations'][-1]
    assert composition['feature_set'] == 'composition'
    assert composition['numeric_inputs'] == ['temperature_K', 'frac_Li', 'frac_P', 'frac_S']


def test_one_command_analyses_a_users_table_against_a_room_temperature_target(table, tmp_path, monkeypatch):
    """The user's table carries its own ids; σ is joined by formula; the statistics at their own temperature."""
    monkeypatch.chdir(tmp_path)
    rows = table.assign(structure_label=[f'icsd-{index}' for index in range(len(table))])
    rows.to_csv('table.csv', index_label='row_uuid')
    conductivity_file(table, 'conductivity.csv')
    arguments = [
        'analyze',
        'table.csv',
        '-o',
        'report',
        '--join',
        'conductivity.csv',
        '--on',
        'formula',
        '--target-column',
        'sigma_S_cm',
        '--log-target',
        '--temperature',
        '700',
        '--temperature-window',
        '50',
        '--keep-columns',
        'structure_label',
        '--models',
        'kernel_ridge',
        '--folds',
        '3',
        '--bootstrap',
        '0',
    ]
    result = CliRunner().invoke(cmd_root, arguments)
    assert result.exit_code == 0, result.output
    assert 'Joined sigma_S_cm, label from conductivity.csv on formula' in result.output
    assert 'near 700 K for the statistics' in result.output
    report = json.loads(pathlib.Path('report/report.json').read_text())
    assert report['selection']['temperature_K'] == 700.0
    selection = pd.read_csv('report/selection.csv')
    assert {'structure_label', 'sigma_S_cm', 'cluster_2d'} <= set(selection.columns)
    predictions = pd.read_csv('report/predictions.csv')
    assert predictions['structure_label'].str.startswith('icsd-').all()
    # A column of the table that is not named is still refused, with the way to name it.
    result = CliRunner().invoke(cmd_root, ['analyze', 'table.csv', '-o', 'other'])
    assert result.exit_code == 1
    assert 'unknown columns: structure_label' in result.output
    assert '--keep-columns' in result.output
    read_table('table.csv', keep=['structure_label'])  # named, it is kept


def test_the_msd_figure_shows_sigma_and_the_verdict(tmp_path, monkeypatch):
    import matplotlib.figure

    from aiida_superionic.analysis.plots import plot_msd

    class Arrays:
        lag = np.linspace(0, 10, 50)
        arrays = {'lag_time_ps': lag, 'msd_A2': 0.6 * lag, 'msd_xyz_A2': np.outer(0.2 * lag, np.ones(3))}

        def get_array(self, name):
            return self.arrays[name]

    class Values:
        def get_dict(self):
            return {
                'diffusion_fit_start_ps': 5.0,
                'diffusion_fit_end_ps': 10.0,
                'diffusion_coefficient_cm2_s': 1.0e-5,
                'diffusion_coefficient_std_cm2_s': 4.0e-6,
                'diffusion_fit_intercept_A2': 0.0,
                'mobile_species': 'Li',
                'diffusivity_verdict': 'too_few_hops',
                'mobile_ion_hops': 3,
            }

    texts = []
    original = matplotlib.figure.Figure.savefig

    def record(self, *arguments, **options):
        for axes in self.axes:
            texts.extend(text.get_text() for text in [*axes.texts, *axes.get_legend().get_texts()])
        return original(self, *arguments, **options)

    monkeypatch.setattr(matplotlib.figure.Figure, 'savefig', record)
    plot_msd(Arrays(), Values(), tmp_path / 'msd.png')
    assert 'fit: D = (1.00e-05 ± 4.0e-06) cm$^2$/s' in texts
    assert 'verdict: too_few_hops (3 hops)' in texts


def test_the_documented_command_for_a_users_target_runs_as_typed(table, tmp_path):
    """The how-to's command, copied from the page, in a folder with the files it names (relative paths)."""
    import re
    import shlex
    import subprocess
    import sys

    page = pathlib.Path(__file__).parents[1] / 'docs' / 'source' / 'howto' / 'analyse_table.md'
    [command] = re.findall(
        r'^\$ (aiida-superionic analyze study\.csv .*--join conductivity\.csv.*)$', page.read_text(), re.M
    )
    table.assign(structure_label=[f'icsd-{index}' for index in range(len(table))]).to_csv(
        tmp_path / 'study.csv', index_label='row_uuid'
    )
    conductivity_file(table, tmp_path / 'conductivity.csv')
    executable = pathlib.Path(sys.executable).parent / 'aiida-superionic'
    arguments = shlex.split(command)
    result = subprocess.run(
        [str(executable), *arguments[1:]], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=1800
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Joined sigma_S_cm, label from conductivity.csv on formula' in result.stdout
    output = pathlib.Path(tmp_path, arguments[arguments.index('-o') + 1])
    report = json.loads((output / 'report.json').read_text())
    assert report['settings']['target'] == 'sigma_S_cm'
    ranked = [row['descriptor'] for row in report['target_correlations']['all']['spearman']]
    assert {GAMMA, 'vacancy_formation_energy_eV'} <= set(ranked[:4])
    assert (output / 'parity.png').read_bytes()[:4] == b'\x89PNG'
    assert pd.read_csv(output / 'predictions.csv')['structure_label'].notna().all()
