"""The streaming VASP readers against pymatgen and ASE, on a real XDATCAR and on synthetic files in VASP's layout."""

from __future__ import annotations

import io

import numpy as np
import pytest
from vasp_files import (
    INCAR_MD,
    breathing_cells,
    outcar_header_text,
    random_md_frames,
    vasprun_text,
    write_bytes,
    write_vasprun,
    write_xdatcar,
    xdatcar_text,
)

from aiida_superionic.readers.trajectory import TrajectoryFileError
from aiida_superionic.readers.vasp import (
    open_binary,
    read_incar,
    read_outcar_parameters,
    read_vasprun,
    read_xdatcar,
)

SPECIES = ['Li', 'P', 'S', 'Cl']
COUNTS = [6, 2, 5, 3]
ATOMS = sum(COUNTS)
CELL = np.array([[10.21, 0.12, -0.05], [0.31, 9.87, 0.08], [-0.11, 0.22, 10.53]])
# Fractional coordinates are written with 8 decimals: the positions read differ from the arrays written by at most
# 5e-9 times the cell's row sums.
ROUNDING_A = 1e-7


def pymatgen_arrays(path):
    from pymatgen.io.vasp.outputs import Xdatcar

    structures = Xdatcar(str(path)).structures
    return (
        np.array([s.cart_coords for s in structures]),
        np.array([s.frac_coords for s in structures]),
        np.array([s.lattice.matrix for s in structures]),
        [site.specie.symbol for site in structures[0]],
    )


def ase_arrays(path):
    from ase.io import read

    images = read(str(path), index=':', format='vasp-xml')
    return np.array([atoms.positions for atoms in images]), np.array([atoms.cell[:] for atoms in images]), images


def fractional_of(trajectory):
    return np.einsum('fai,fij->faj', trajectory.positions, np.linalg.inv(trajectory.cells))


@pytest.fixture
def frames():
    return random_md_frames(12, COUNTS, seed=11)


@pytest.fixture
def fixed_xdatcar(tmp_path, frames):
    return write_xdatcar(tmp_path / 'XDATCAR', frames, CELL, SPECIES, COUNTS, nblock=5)


# ------------------------------------------------------------------------------------------------ XDATCAR


@pytest.mark.realdata
def test_the_real_xdatcar_is_read_as_pymatgen_reads_it(realdata):
    path = realdata / 'kinisi_XDATCAR' / 'example_XDATCAR.gz'
    if not path.is_file():
        pytest.skip(f'{path} not found')
    trajectory = read_xdatcar(path, timestep_fs=2.0, nblock=50)
    positions, fractional, cells, symbols = pymatgen_arrays(path)
    assert trajectory.positions.shape == (140, 416, 3)
    np.testing.assert_allclose(trajectory.positions, positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fractional_of(trajectory), fractional, rtol=0, atol=1e-10)
    np.testing.assert_allclose(trajectory.cells, cells, rtol=0, atol=1e-10)
    assert trajectory.symbols == symbols
    assert trajectory.symbols[:192] == ['Li'] * 192
    assert trajectory.symbols[-32:] == ['P'] * 32
    # pymatgen wrote this file and renumbered its configurations 1..140: they count frames, 50 steps apart.
    np.testing.assert_array_equal(trajectory.steps, 50 * np.arange(1, 141))
    np.testing.assert_allclose(trajectory.times_ps, trajectory.steps * 0.002, rtol=1e-15)
    assert trajectory.parameters == {'timestep_fs': 2.0, 'nblock': 50, 'frame_interval_fs': 100.0}
    assert len(trajectory.warnings) == 1
    assert 'count frames' in trajectory.warnings[0]
    assert trajectory.sources == ['example_XDATCAR.gz']


def test_a_fixed_cell_xdatcar_matches_pymatgen_and_the_arrays_written(fixed_xdatcar, frames):
    trajectory = read_xdatcar(fixed_xdatcar, timestep_fs=1.5, nblock=5)
    positions, _fractional, cells, symbols = pymatgen_arrays(fixed_xdatcar)
    np.testing.assert_allclose(trajectory.positions, positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(trajectory.cells, cells, rtol=0, atol=1e-10)
    np.testing.assert_allclose(trajectory.positions, frames @ CELL, rtol=0, atol=ROUNDING_A)
    assert trajectory.symbols == symbols == ['Li'] * 6 + ['P'] * 2 + ['S'] * 5 + ['Cl'] * 3
    # VASP numbers the configurations by ionic step: NBLOCK, 2 NBLOCK, ...
    np.testing.assert_array_equal(trajectory.steps, 5 * np.arange(1, 13))
    np.testing.assert_allclose(trajectory.times_ps, trajectory.steps * 1.5e-3, rtol=1e-15)
    assert trajectory.parameters == {'timestep_fs': 1.5, 'nblock': 5, 'frame_interval_fs': 7.5}
    assert trajectory.warnings == []
    assert trajectory.sources == ['XDATCAR']
    assert trajectory.positions.dtype == np.float64
    assert trajectory.positions.flags.c_contiguous


def test_a_variable_cell_xdatcar_has_the_cell_of_each_frame(tmp_path, frames):
    cells = breathing_cells(len(frames), CELL)
    path = write_xdatcar(tmp_path / 'XDATCAR', frames, cells, SPECIES, COUNTS)
    assert xdatcar_text(frames, cells, SPECIES, COUNTS).count('unknown system') == len(frames)
    trajectory = read_xdatcar(path, timestep_fs=1.0)
    positions, _, pymatgen_cells, _ = pymatgen_arrays(path)
    np.testing.assert_allclose(trajectory.cells, pymatgen_cells, rtol=0, atol=1e-10)
    np.testing.assert_allclose(trajectory.positions, positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(trajectory.cells, cells, rtol=0, atol=1e-6)  # written with 6 decimals
    assert np.ptp(trajectory.cells[:, 0, 0]) > 0.05  # the cells do vary
    np.testing.assert_array_equal(trajectory.steps, np.arange(1, 13))


@pytest.mark.parametrize('variable_cell', [False, True])
def test_reading_in_many_small_chunks_gives_the_same_arrays(tmp_path, frames, variable_cell):
    cells = breathing_cells(len(frames), CELL) if variable_cell else CELL
    path = write_xdatcar(tmp_path / 'XDATCAR', frames, cells, SPECIES, COUNTS)
    whole = read_xdatcar(path, timestep_fs=1.0)
    frame_bytes = len(xdatcar_text(frames[:1], CELL, SPECIES, COUNTS))
    for chunk_bytes in (64, 333, frame_bytes, 3 * frame_bytes + 17):
        chunked = read_xdatcar(path, timestep_fs=1.0, chunk_bytes=chunk_bytes)
        np.testing.assert_array_equal(chunked.positions, whole.positions)
        np.testing.assert_array_equal(chunked.cells, whole.cells)
        np.testing.assert_array_equal(chunked.steps, whole.steps)


def test_a_vasp4_xdatcar_needs_the_symbols(tmp_path, frames):
    path = write_xdatcar(tmp_path / 'XDATCAR', frames, CELL, SPECIES, COUNTS, species_line=False)
    with pytest.raises(TrajectoryFileError, match=r'no species line .* give the symbols, one per species .*6 2 5 3'):
        read_xdatcar(path, timestep_fs=1.0)
    trajectory = read_xdatcar(path, timestep_fs=1.0, symbols=SPECIES)
    np.testing.assert_allclose(trajectory.positions, frames @ CELL, rtol=0, atol=ROUNDING_A)
    assert trajectory.symbols == ['Li'] * 6 + ['P'] * 2 + ['S'] * 5 + ['Cl'] * 3
    with pytest.raises(TrajectoryFileError, match=r'3 symbols given .* 4 species'):
        read_xdatcar(path, timestep_fs=1.0, symbols=['Li', 'P', 'S'])


@pytest.mark.parametrize('compression', ['gzip', 'bz2', 'xz'])
def test_compressed_xdatcars_are_recognised_by_their_content(tmp_path, fixed_xdatcar, compression):
    plain = read_xdatcar(fixed_xdatcar, timestep_fs=1.0, nblock=5)
    path = write_bytes(tmp_path / 'XDATCAR_no_suffix', fixed_xdatcar.read_bytes(), compression)
    assert path.read_bytes()[:2] != fixed_xdatcar.read_bytes()[:2]
    compressed = read_xdatcar(path, timestep_fs=1.0, nblock=5, chunk_bytes=500)
    np.testing.assert_array_equal(compressed.positions, plain.positions)
    np.testing.assert_array_equal(compressed.steps, plain.steps)


class ReadOnlyStream:
    """A file object with nothing but ``read`` (no seek, tell or peek), like some repository streams."""

    def __init__(self, data: bytes):
        self._stream = io.BytesIO(data)
        self.bytes_read = 0

    def read(self, size=-1):
        data = self._stream.read(size)
        self.bytes_read += len(data)
        return data


def test_open_files_and_bare_streams_are_read_too(tmp_path, fixed_xdatcar):
    from_path = read_xdatcar(fixed_xdatcar, timestep_fs=1.0, nblock=5)
    with open(fixed_xdatcar, 'rb') as handle:
        from_handle = read_xdatcar(handle, timestep_fs=1.0, nblock=5)
    np.testing.assert_array_equal(from_handle.positions, from_path.positions)
    assert from_handle.sources == ['XDATCAR']
    gzipped = write_bytes(tmp_path / 'XDATCAR.gz', fixed_xdatcar.read_bytes(), 'gzip').read_bytes()
    from_stream = read_xdatcar(ReadOnlyStream(gzipped), timestep_fs=1.0, nblock=5)
    np.testing.assert_array_equal(from_stream.positions, from_path.positions)
    assert from_stream.sources == []
    with open(fixed_xdatcar) as text_handle, pytest.raises(TrajectoryFileError, match='binary mode'):
        read_xdatcar(text_handle, timestep_fs=1.0)


@pytest.mark.parametrize('cut', ['mid_number', 'mid_frame', 'after_marker'])
def test_a_last_frame_cut_short_is_dropped_with_a_warning(tmp_path, fixed_xdatcar, cut):
    text = fixed_xdatcar.read_bytes()
    last = text.rfind(b'Direct configuration=')
    cut_at = {
        'mid_number': len(text) - 5,  # inside the last coordinate of the last line
        'mid_frame': text.find(b'\n', text.find(b'\n', last) + 200) + 1,
        'after_marker': text.find(b'\n', last) + 1,
    }[cut]
    path = write_bytes(tmp_path / 'XDATCAR', text[:cut_at], 'gzip' if cut == 'mid_frame' else None)
    trajectory = read_xdatcar(path, timestep_fs=1.0, nblock=5)
    complete = read_xdatcar(fixed_xdatcar, timestep_fs=1.0, nblock=5)
    assert trajectory.frames == 11
    np.testing.assert_array_equal(trajectory.positions, complete.positions[:11])
    assert len(trajectory.warnings) == 1
    assert 'ends in the middle of configuration 60' in trajectory.warnings[0]
    assert 'the 11 complete frames before it are kept, the last, incomplete one is dropped' in trajectory.warnings[0]


def test_a_complete_last_frame_without_a_final_newline_is_kept(tmp_path, fixed_xdatcar):
    path = write_bytes(tmp_path / 'XDATCAR', fixed_xdatcar.read_bytes().rstrip(b'\n'))
    trajectory = read_xdatcar(path, timestep_fs=1.0, nblock=5)
    assert trajectory.frames == 12
    assert trajectory.warnings == []


def test_an_xdatcar_without_a_complete_frame_is_an_error(tmp_path, fixed_xdatcar):
    text = fixed_xdatcar.read_bytes()
    second = text.find(b'Direct configuration=', text.find(b'Direct configuration=') + 1)
    with pytest.raises(TrajectoryFileError, match='XDATCAR has no complete configuration'):
        read_xdatcar(write_bytes(tmp_path / 'XDATCAR', text[: second - 100]), timestep_fs=1.0)
    header_only = text[: text.find(b'Direct configuration=')] + b'Direct conf'
    with pytest.raises(TrajectoryFileError, match="no 'Direct configuration=' line"):
        read_xdatcar(write_bytes(tmp_path / 'XDATCAR', header_only), timestep_fs=1.0)


@pytest.mark.parametrize('chunk_bytes', [None, 200])
def test_a_configuration_with_a_missing_atom_is_an_error_that_names_it(tmp_path, fixed_xdatcar, chunk_bytes):
    lines = fixed_xdatcar.read_text().splitlines(keepends=True)
    marker = lines.index('Direct configuration=    35\n')
    del lines[marker + 4]
    path = write_bytes(tmp_path / 'XDATCAR', ''.join(lines).encode())
    message = (
        r'XDATCAR: the header says 16 atoms \(Li 6, P 2, S 5, Cl 3\) but configuration 35 \(line '
        rf'{marker + 1}\) has 15 coordinate lines'
    )
    with pytest.raises(TrajectoryFileError, match=message):
        read_xdatcar(path, timestep_fs=1.0, nblock=5, chunk_bytes=chunk_bytes)


@pytest.mark.parametrize('bad_line', ['   0.12345678  0.23456789\n', '   0.12345678  0.23456789  abc\n', '\n'])
def test_a_malformed_coordinate_line_is_an_error_that_names_it(tmp_path, fixed_xdatcar, bad_line):
    lines = fixed_xdatcar.read_text().splitlines(keepends=True)
    marker = lines.index('Direct configuration=    20\n')
    lines[marker + 3] = bad_line
    path = write_bytes(tmp_path / 'XDATCAR', ''.join(lines).encode())
    message = rf'XDATCAR, line {marker + 4} \(configuration 20, atom 3 of 16\): expected three fractional coordinates'
    with pytest.raises(TrajectoryFileError, match=message):
        read_xdatcar(path, timestep_fs=1.0, nblock=5)


def test_a_header_whose_species_and_counts_disagree_is_an_error(tmp_path, frames):
    text = xdatcar_text(frames, CELL, SPECIES, COUNTS).replace('   Cl\n', '   Cl   Br\n', 1)
    with pytest.raises(TrajectoryFileError, match=r'species line has 5 names .* but the counts line has 4 numbers'):
        read_xdatcar(write_bytes(tmp_path / 'XDATCAR', text.encode()), timestep_fs=1.0)
    text = xdatcar_text(frames, CELL, SPECIES, COUNTS).replace('    10.210000', '    10.21 abc', 1)
    with pytest.raises(TrajectoryFileError, match=r'line 3: expected a lattice vector \(three numbers\)'):
        read_xdatcar(write_bytes(tmp_path / 'XDATCAR', text.encode()), timestep_fs=1.0)


def test_a_negative_scale_factor_is_the_cell_volume(tmp_path, frames):
    path = write_xdatcar(tmp_path / 'XDATCAR', frames, CELL, SPECIES, COUNTS, scale=-1.0)
    assert f'{-abs(np.linalg.det(CELL)):19.10f}' in path.read_text()
    trajectory = read_xdatcar(path, timestep_fs=1.0)
    np.testing.assert_allclose(trajectory.cells[0], CELL, rtol=0, atol=1e-4)  # a unit-volume lattice, 6 decimals
    np.testing.assert_allclose(abs(np.linalg.det(trajectory.cells[0])), abs(np.linalg.det(CELL)), rtol=1e-12)


@pytest.mark.parametrize(
    ('numbers', 'nblock', 'steps', 'warning'),
    [
        ([10, 20, 30, 40], 10, [10, 20, 30, 40], None),
        ([1, 2, 3, 4], 10, [10, 20, 30, 40], 'count frames'),
        ([10, 20, 30, 40], 1, [10, 20, 30, 40], 'step by 10 ionic steps but NBLOCK = 1'),
        ([10, 20, 10, 20], 10, [10, 20, 30, 40], 'start again 1 time'),
        ([10, 20, 40, 50], 10, [10, 20, 40, 50], 'not equally spaced'),
    ],
)
def test_the_steps_come_from_the_configuration_numbers(tmp_path, numbers, nblock, steps, warning):
    fractional = random_md_frames(4, COUNTS, seed=2)
    path = write_xdatcar(tmp_path / 'XDATCAR', fractional, CELL, SPECIES, COUNTS, numbers=numbers)
    trajectory = read_xdatcar(path, timestep_fs=2.0, nblock=nblock)
    np.testing.assert_array_equal(trajectory.steps, steps)
    np.testing.assert_allclose(trajectory.times_ps, np.array(steps) * 0.002, rtol=1e-15)
    if warning is None:
        assert trajectory.warnings == []
    else:
        assert len(trajectory.warnings) == 1
        assert warning in trajectory.warnings[0]


def test_configuration_numbers_beyond_six_digits_are_continued(tmp_path, fixed_xdatcar):
    # VASP writes the step with I6: from step 1000000 on it prints ******.
    text = fixed_xdatcar.read_text().replace('configuration=    55\n', 'configuration=******\n')
    trajectory = read_xdatcar(write_bytes(tmp_path / 'XDATCAR', text.encode()), timestep_fs=1.0, nblock=5)
    np.testing.assert_array_equal(trajectory.steps, 5 * np.arange(1, 13))
    assert len(trajectory.warnings) == 1
    assert '1 configuration numbers of XDATCAR are unreadable' in trajectory.warnings[0]


def test_a_header_written_twice_before_the_first_configuration_is_read(tmp_path, frames):
    cells = breathing_cells(len(frames), CELL)
    text = xdatcar_text(frames, cells, SPECIES, COUNTS)
    first_header = xdatcar_text(frames[:1], CELL, SPECIES, COUNTS).split('Direct')[0]
    path = write_bytes(tmp_path / 'XDATCAR', (first_header + text).encode())
    np.testing.assert_allclose(read_xdatcar(path, timestep_fs=1.0).cells, cells, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------ vasprun.xml


@pytest.mark.parametrize('variable_cell', [False, True])
def test_a_vasprun_matches_ase(tmp_path, frames, variable_cell):
    cells = breathing_cells(len(frames), CELL) if variable_cell else CELL
    path = write_vasprun(tmp_path / 'vasprun.xml', frames, cells, SPECIES, COUNTS, potim=1.5, nblock=10, tebeg=650.0)
    trajectory = read_vasprun(path)
    positions, ase_cells, images = ase_arrays(path)
    np.testing.assert_allclose(trajectory.positions, positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(trajectory.cells, ase_cells, rtol=0, atol=1e-10)
    np.testing.assert_allclose(trajectory.positions, frames @ cells, rtol=0, atol=ROUNDING_A)
    assert trajectory.symbols == images[0].get_chemical_symbols()
    # One <calculation> per ionic step, whatever NBLOCK.
    np.testing.assert_array_equal(trajectory.steps, np.arange(1, 13))
    np.testing.assert_allclose(trajectory.times_ps, trajectory.steps * 1.5e-3, rtol=1e-15)
    assert trajectory.parameters['timestep_fs'] == 1.5
    assert trajectory.parameters['frame_interval_fs'] == 1.5
    assert trajectory.parameters['nblock'] == 10
    assert trajectory.parameters['temperature_K'] == 650.0
    assert trajectory.parameters['ibrion'] == 0
    assert trajectory.parameters['isif'] == 2
    assert trajectory.warnings == []
    assert trajectory.sources == ['vasprun.xml']


def test_a_vasprun_read_in_small_chunks_or_compressed_gives_the_same_arrays(tmp_path, frames):
    path = write_vasprun(tmp_path / 'vasprun.xml', frames, breathing_cells(len(frames), CELL), SPECIES, COUNTS)
    whole = read_vasprun(path)
    for chunk_bytes in (64, 1000, 7777):
        chunked = read_vasprun(path, chunk_bytes=chunk_bytes)
        np.testing.assert_array_equal(chunked.positions, whole.positions)
        np.testing.assert_array_equal(chunked.cells, whole.cells)
    compressed = write_bytes(tmp_path / 'vasprun.xml.bz2', path.read_bytes(), 'bz2')
    np.testing.assert_array_equal(read_vasprun(compressed, chunk_bytes=5000).positions, whole.positions)


def test_the_named_structures_of_a_vasprun_are_not_frames(tmp_path, frames):
    text = vasprun_text(frames, CELL, SPECIES, COUNTS)
    assert text.count('<structure') == len(frames) + 2  # initialpos and finalpos besides the calculations
    trajectory = read_vasprun(write_bytes(tmp_path / 'vasprun.xml', text.encode()))
    assert trajectory.frames == len(frames)
    np.testing.assert_allclose(trajectory.positions[0], frames[0] @ CELL, rtol=0, atol=ROUNDING_A)


def test_a_vasprun_of_a_killed_run_keeps_the_complete_steps(tmp_path, frames):
    text = vasprun_text(frames, CELL, SPECIES, COUNTS)
    ninth = text.find('<calculation>', text.find('<calculation>') + 1)
    for _ in range(7):
        ninth = text.find('<calculation>', ninth + 1)
    cut = text.find('<scstep>', ninth + 1) + 50  # inside the SCF of step 9
    path = write_bytes(tmp_path / 'vasprun.xml', text[:cut].encode())
    trajectory = read_vasprun(path)
    assert trajectory.frames == 8
    np.testing.assert_allclose(trajectory.positions, ase_arrays(path)[0], rtol=0, atol=1e-10)
    assert len(trajectory.warnings) == 1
    assert 'ends inside <calculation> 9' in trajectory.warnings[0]
    assert (
        'the 8 complete ionic steps before it are kept, the last, incomplete one is dropped' in trajectory.warnings[0]
    )
    closed = text.rfind('</calculation>') + len('</calculation>')
    unclosed = read_vasprun(write_bytes(tmp_path / 'vasprun.xml', text[:closed].encode()))
    assert unclosed.frames == 12
    assert 'ends without its closing tags' in unclosed.warnings[0]
    before_first = text.find('<calculation>') + 100
    with pytest.raises(TrajectoryFileError, match='no complete <calculation>'):
        read_vasprun(write_bytes(tmp_path / 'vasprun.xml', text[:before_first].encode()))


def test_a_vasprun_without_potim_needs_the_time_step(tmp_path, frames):
    path = write_vasprun(tmp_path / 'vasprun.xml', frames, CELL, SPECIES, COUNTS, potim=None)
    assert 'POTIM' not in path.read_text()
    with pytest.raises(TrajectoryFileError, match=r'has no POTIM .* give the time step in fs'):
        read_vasprun(path)
    trajectory = read_vasprun(path, timestep_fs=0.5)
    np.testing.assert_allclose(trajectory.times_ps, np.arange(1, 13) * 5e-4, rtol=1e-15)
    assert trajectory.warnings == []
    with_potim = write_vasprun(tmp_path / 'vasprun2.xml', frames, CELL, SPECIES, COUNTS, potim=2.0)
    overridden = read_vasprun(with_potim, timestep_fs=1.0)
    assert overridden.parameters['timestep_fs'] == 1.0
    assert overridden.warnings == ['POTIM in vasprun2.xml is 2 fs; the time step given, 1 fs, is used']


def test_a_malformed_vasprun_position_is_an_error_that_names_the_step(tmp_path, frames):
    text = vasprun_text(frames, CELL, SPECIES, COUNTS)
    third = text.find('<calculation>', text.find('<calculation>', text.find('<calculation>') + 1) + 1)
    row = text.find('<v>', text.find('name="positions"', third))
    text = text[:row] + '<v> 0.1 0.2 </v>' + text[text.find('\n', row) :]
    with pytest.raises(TrajectoryFileError, match=r'<calculation> 3, positions row 1: expected three numbers'):
        read_vasprun(write_bytes(tmp_path / 'vasprun.xml', text.encode()))


# ------------------------------------------------------------------------------------------------ INCAR, OUTCAR


def test_incar_tags_are_upper_cased_and_converted(tmp_path):
    tags = read_incar(write_bytes(tmp_path / 'INCAR', INCAR_MD.encode()))
    assert tags['SYSTEM'] == 'Li6PS5Cl argyrodite AIMD'
    assert tags['PREC'] == 'Normal'
    assert tags['ENCUT'] == 400
    assert isinstance(tags['ENCUT'], int)
    assert tags['EDIFF'] == 1e-5
    assert tags['POTIM'] == 2.0
    assert isinstance(tags['POTIM'], float)
    assert (tags['NBLOCK'], tags['KBLOCK'], tags['TEBEG'], tags['TEEND']) == (50, 100, 500, 500)
    assert tags['IBRION'] == 0
    assert tags['MDALGO'] == 2
    assert tags['NSW'] == 10000
    assert tags['LWAVE'] is False
    assert tags['LCHARG'] is False
    assert tags['LANGEVIN_GAMMA'] == '10.0 10.0 10.0'
    assert tags['MAGMOM'] == '416*0.0'
    assert 'MOLECULAR' not in tags
    assert '' not in tags


def test_the_outcar_header_gives_the_md_parameters(tmp_path):
    path = write_bytes(tmp_path / 'OUTCAR', outcar_header_text(potim=1.5, nblock=10, tebeg=800.0, teend=900.0).encode())
    assert read_outcar_parameters(path) == {
        'NSW': 10000,
        'NBLOCK': 10,
        'IBRION': 0,
        'ISIF': 2,
        'POTIM': 1.5,
        'TEBEG': 800.0,
        'TEEND': 900.0,
        'SMASS': 0.0,
        'MDALGO': 2,
    }
    vasp5 = write_bytes(tmp_path / 'OUTCAR5', outcar_header_text(incar_echo=False, mdalgo=None).encode(), 'gzip')
    parameters = read_outcar_parameters(vasp5)
    assert 'MDALGO' not in parameters
    assert parameters['POTIM'] == 2.0
    assert parameters['NBLOCK'] == 50


def test_the_parameter_section_wins_over_the_incar_echo(tmp_path):
    # VASP resets NBLOCK when NBLOCK x KBLOCK > NSW: the parameter section shows the value used.
    text = outcar_header_text(nblock=1).replace('   NBLOCK = 1\n', '   NBLOCK = 50\n', 1)
    assert '   NBLOCK = 50\n' in text
    assert read_outcar_parameters(write_bytes(tmp_path / 'OUTCAR', text.encode()))['NBLOCK'] == 1


def test_only_the_header_of_an_outcar_is_read(tmp_path):
    header = outcar_header_text(potim=1.0)
    body = ''.join(f'   POTIM  = {step:.4f}    would be wrong\n' + 'x' * 200 + '\n' for step in range(20_000))
    stream = ReadOnlyStream((header + body).encode())
    assert read_outcar_parameters(stream)['POTIM'] == 1.0
    assert stream.bytes_read < len(header) + 2**21  # one buffer beyond the header, not the 4 MB after it
    no_iteration = ReadOnlyStream(body.encode())
    assert read_outcar_parameters(no_iteration, max_bytes=10_000)['POTIM'] < 100
    assert no_iteration.bytes_read < 2**21 + 10_000


def test_open_binary_recognises_compression_by_content(tmp_path):
    data = b'some text\nover two lines\n'
    for compression in (None, 'gzip', 'bz2', 'xz'):
        path = write_bytes(tmp_path / f'file_{compression}.txt', data, compression)
        with open_binary(path) as stream:
            assert stream.read() == data
        with open(path, 'rb') as handle:
            with open_binary(handle) as stream:
                assert stream.read() == data
            assert not handle.closed  # the caller's file is the caller's to close
    with pytest.raises(TrajectoryFileError, match='cannot be opened'), open_binary(tmp_path / 'missing'):
        pass
