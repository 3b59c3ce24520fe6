"""``aiida-superionic analyze``: the report folder, its numbers, its page rendered in headless Chromium."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest
from analysis_tables import ENGINE_CANNOT_GIVE, SOME_GAPS, mixed_table, planted_table
from click.testing import CliRunner

from aiida_superionic.analysis.report import FIGURES, write_report
from aiida_superionic.analysis.table import write_table
from aiida_superionic.cli import cmd_root

D = 'diffusion_coefficient_cm2_s'


@pytest.fixture(scope='module')
def report_dir(tmp_path_factory) -> pathlib.Path:
    """The report of the planted table, made by the CLI (small MLP budget and 4 folds, for speed)."""
    folder = tmp_path_factory.mktemp('analysis')
    table = write_table(planted_table(), folder / 'table.csv')
    arguments = ['analyze', str(table), '-o', str(folder / 'report'), '--max-iter', '5', '--folds', '4']
    result = CliRunner().invoke(cmd_root, [*arguments, '--bootstrap', '200', '--log-target', '--seed', '2'])
    assert result.exit_code == 0, result.output
    assert 'Analysed 216 rows; 70 rows of 35 materials near 500 K for the statistics (set aside: 142' in result.output
    return folder / 'report'


@pytest.fixture(scope='module')
def report(report_dir) -> dict:
    return json.loads((report_dir / 'report.json').read_text())


def test_report_json_holds_every_number(report):
    assert report['settings']['seed'] == 2
    assert report['settings']['log_target'] is True
    assert report['table']['mixed_engines_or_models'] is False
    assert report['table']['engine_model_pairs'] == [['ase', 'planted-potential']]

    selection = report['selection']
    assert (selection['rows_selected'], selection['materials_selected']) == (70, 35)
    assert len(selection['left_out']) == 2  # one material without a row in 400–600 K, both compositions

    assert set(report['nan_policy']['dropped_for_nan']) == {*ENGINE_CANNOT_GIVE, SOME_GAPS}
    assert report['nan_policy']['dropped_constant'] == ['lattice_angles_std_deg']

    spearman = report['correlations']['all']['spearman']
    assert spearman['coefficient'][D]['msd_A2'] == pytest.approx(spearman['coefficient']['msd_A2'][D])
    assert spearman['coefficient'][D]['band_gap_eV'] is None  # NaN is null: JSON has no NaN
    assert spearman['too_few_rows']
    assert set(report['correlations']['by_group']) == {'Ag/Cu', 'Li', 'Na', 'O', 'halide'}

    ranked = report['target_correlations']['all']['spearman']
    assert ranked[0]['descriptor'] == 'lindemann_ratio'
    assert {'coefficient', 'p_value', 'p_fdr', 'significant', 'ci_low', 'ci_high', 'n_rows'} <= set(ranked[0])
    assert report['target_correlations']['all']['pearson'][0]['descriptor'] == 'msd_A2'

    pca = report['pca']
    assert sum(pca['explained_variance_ratio']) == pytest.approx(1.0)
    assert set(pca['dominant_category'].values()) <= {
        'mechanical-elastic',
        'diffusive-vibrational',
        'structural-compositional',
    }
    assert report['clusters']['2d']['chosen_k'] == 4
    assert len(report['clusters']['3d']['labels']) == 70

    validations = report['ml']['validations']
    assert [(v['model'], v['feature_set']) for v in validations] == [
        ('mlp', 'anharmonic'),
        ('kernel_ridge', 'anharmonic'),
        ('random_forest', 'anharmonic'),
        ('mlp', 'harmonic'),
        ('kernel_ridge', 'harmonic'),
        ('random_forest', 'harmonic'),
    ]
    for validation in validations:
        assert validation['fitted_target'] == f'log10({D})'
        assert validation['folds'] == 4
        assert {'mape', 'mae', 'rmse', 'r2', 'n'} <= set(validation['test'])
        assert validation['test_linear']['n'] == 216
    assert validations[1]['test']['r2'] > 0.99  # the linear baseline on log10 D = linear in γ


def test_the_report_folder_has_every_figure_and_a_self_contained_page(report_dir, report):
    assert set(report['figures']) == set(FIGURES)
    for name in report['figures'].values():
        assert (report_dir / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    page = (report_dir / 'index.html').read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(sources) == sorted(report['figures'].values())
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing external
    assert 'Mixed engines' not in page


@pytest.fixture(scope='session')
def chromium() -> str:
    """Path of a Chromium; Debian's package is installed when it is missing (skipped if that fails)."""
    for name in ('chromium', 'chromium-browser'):
        if path := shutil.which(name):
            return path
    if shutil.which('apt-get') is None:
        pytest.skip('chromium is not installed and there is no apt-get to install it')
    install = 'apt-get install -y --no-install-recommends chromium'
    completed = subprocess.run(install.split(), capture_output=True, text=True, check=False, timeout=900)
    if completed.returncode != 0:
        completed = subprocess.run(
            ['sh', '-c', f'apt-get update && {install}'], capture_output=True, text=True, check=False, timeout=900
        )
    if completed.returncode != 0 or shutil.which('chromium') is None:
        pytest.skip(f'could not install chromium with `{install}`: {completed.stderr.strip()[-300:]}')
    return shutil.which('chromium')


def test_the_page_renders_in_chromium_with_every_figure_loaded(report_dir, report, chromium, tmp_path):
    command = [
        chromium,
        '--headless',
        '--disable-gpu',
        '--no-sandbox',
        '--disable-dev-shm-usage',
        f'--user-data-dir={tmp_path / "profile"}',
        '--virtual-time-budget=10000',
        '--dump-dom',
        (report_dir / 'index.html').as_uri(),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    dom = completed.stdout
    # The page's own check (on load: naturalWidth > 0 for every <img>) marks each image and counts the failures.
    assert 'data-figures-checked="0"' in dom, dom[-3000:]
    images = re.findall(r'<img [^>]*>', dom)
    assert len(images) == len(report['figures'])
    assert all('data-loaded="true"' in image for image in images), images


def test_the_page_warns_when_a_figure_is_missing(report_dir, chromium, tmp_path):
    """The same check a reader gets: index.html copied without a PNG shows which figure did not load."""
    copy = tmp_path / 'copy'
    shutil.copytree(report_dir, copy)
    (copy / 'scree.png').unlink()
    command = [chromium, '--headless', '--disable-gpu', '--no-sandbox', f'--user-data-dir={tmp_path / "p"}']
    command += ['--virtual-time-budget=10000', '--dump-dom', (copy / 'index.html').as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120).stdout
    assert 'data-figures-checked="1"' in dom
    assert 'Figures that did not load: scree.png' in dom


def test_a_table_with_nothing_near_500_K_is_refused_unless_all_rows(tmp_path):
    """No row in 400–600 K: an error that says what to do (not empty statistics); --all-rows uses every row."""
    table = planted_table()
    table = table[(table['temperature_K'] >= 700) & table['formula'].isin(table['formula'].unique()[:4])]
    with pytest.raises(ValueError, match='no row within 500 ± 100 K'):
        write_report(table, tmp_path, folds=2, max_iter=5, hidden_layer_sizes=(8,), n_bootstrap=0)
    assert not (tmp_path / 'report.json').exists()
    report = write_report(
        table, tmp_path, all_rows=True, folds=2, max_iter=5, hidden_layer_sizes=(8,), n_bootstrap=0, draw_figures=False
    )
    assert report['selection']['rows_selected'] == len(table)
    assert report['selection']['mode'] == 'all rows'
    assert len(report['ml']['validations']) == 6  # three models, two feature sets
    json.loads((tmp_path / 'report.json').read_text())  # valid JSON: no NaN


@pytest.mark.parametrize('command', ['export', 'analyze'])
def test_the_commands_explain_themselves(command):
    result = CliRunner().invoke(cmd_root, [command, '--help'])
    assert result.exit_code == 0
    assert '--help' in result.output
    assert ('-p, --profile' in result.output) == (command == 'export')
    assert ('-G, --group' in result.output) == (command == 'export')


def test_analyze_names_unknown_and_missing_columns(tmp_path):
    path = tmp_path / 'edited.csv'
    planted_table().drop(columns=['msd_A2']).assign(comment='checked').to_csv(path, index_label='row_uuid')
    result = CliRunner().invoke(cmd_root, ['analyze', str(path), '-o', str(tmp_path / 'report')])
    assert result.exit_code == 1
    assert 'missing required columns: msd_A2' in result.output
    assert 'unknown columns: comment' in result.output
    assert not (tmp_path / 'report').exists()

    path = write_table(planted_table(), tmp_path / 'table.csv')
    result = CliRunner().invoke(cmd_root, ['analyze', str(path), '-o', str(tmp_path / 'r'), '--target', 'speed'])
    assert result.exit_code == 1
    assert 'no column speed in the table' in result.output  # not a column: named, not a traceback
    result = CliRunner().invoke(cmd_root, ['analyze', str(path), '-o', str(tmp_path / 'r'), '--target', 'space_group'])
    assert result.exit_code == 1
    assert 'the target must be a numeric column of the table' in result.output


def test_analyze_refuses_mixed_engines_unless_allowed(tmp_path):
    table = mixed_table()
    table = table[table['formula'].str[-3:-1].astype(int) < 12]  # the Li materials: both engines, fewer rows
    path = write_table(table, tmp_path / 'mixed.csv')
    result = CliRunner().invoke(cmd_root, ['analyze', str(path), '-o', str(tmp_path / 'report')])
    assert result.exit_code == 1
    assert 'mixes 2 engine/model pairs' in result.output
    assert '--allow-mixed' in result.output

    arguments = ['analyze', str(path), '-o', str(tmp_path / 'report'), '--allow-mixed', '--no-ml', '--bootstrap', '0']
    result = CliRunner().invoke(cmd_root, arguments)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / 'report' / 'report.json').read_text())
    assert report['table']['mixed_engines_or_models'] is True
    assert report['settings']['allow_mixed'] is True
    assert report['ml'] == {'skipped': 'not asked for'}
    assert 'Mixed engines or models' in (tmp_path / 'report' / 'index.html').read_text()
