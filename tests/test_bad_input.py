"""Bad input gets a clear answer, and nothing already stored is lost: one row per bad input.

Each row names the bad input, the entry point a user meets it through (a workchain builder, a calcfunction, a
command), and the answer it must produce: the exception or the exit status, and a pattern of the message. Before
each attempt the whole profile (every node's UUID and attributes, every repository file) and the files of the
test folder are recorded; after it, every one of them must still be there, unchanged. New nodes may appear (a
calcfunction that refused its input is stored, with the exit status, as the record of the attempt).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Callable

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from bad_input_attempts import (
    analyze_file,
    copied_file,
    copied_folder,
    copied_xdatcar,
    damaged_xdatcar,
    export_empty_profile,
    extxyz_file,
    garbled,
    import_command,
    incar_without,
    launch_command,
    md_builder,
    same_folder_by_another_path,
    sse_builder,
    truncated_extxyz_gz,
    vasp_folder,
)
from click.testing import CliRunner

from aiida_superionic.calculations.functions.compute_elastic_descriptors import (
    ELASTIC_TENSOR_ARRAY,
    compute_elastic_descriptors,
)
from aiida_superionic.calculations.functions.compute_trajectory_descriptors import compute_trajectory_descriptors
from aiida_superionic.cli import cmd_root
from aiida_superionic.common.trajectory import build_trajectory
from aiida_superionic.engines.ase import get_model_node
from aiida_superionic.workflows.elastic import ElasticWorkChain
from aiida_superionic.workflows.md import MdWorkChain
from aiida_superionic.workflows.phonons import PhononsWorkChain
from aiida_superionic.workflows.sse import SseWorkChain


@dataclasses.dataclass(frozen=True)
class Refusal:
    """The answer to a bad input: an exception of ``raises`` at build time, or a process that ends with
    ``exit_status``, or a command that exits with ``exit_code``; ``message`` is a regular expression."""

    message: str
    raises: type[Exception] | None = None
    exit_status: int | None = None
    exit_code: int | None = None


@dataclasses.dataclass(frozen=True)
class BadInput:
    what: str
    attempt: Callable
    refusal: Refusal


class Kit:
    """What an attempt may use: the codes and models of the tests, a structure factory and a folder."""

    def __init__(self, python_code, emt_model, generate_structure, folder: pathlib.Path):
        self.python_code = python_code
        self.emt_model = emt_model
        self.generate_structure = generate_structure
        self.folder = folder

    def sse(self, structure=None, protocol='fast', model=None, **overrides):
        """An SseWorkChain builder (EMT, Cu3Au unless given), from the protocol with ``overrides``."""
        return SseWorkChain.get_builder_from_protocol(
            self.python_code,
            structure or self.generate_structure('cu3au', repeat=1, vacancy=False),
            protocol,
            overrides=overrides,
            model=model or self.emt_model,
        )

    def md(self, structure=None, **overrides):
        """An MdWorkChain builder (EMT, Cu3Au unless given)."""
        return MdWorkChain.get_builder_from_protocol(
            code=self.python_code,
            structure=structure or self.generate_structure('cu3au'),
            temperature=600.0,
            protocol='fast',
            overrides=overrides,
            model=self.emt_model,
            options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}},
        )

    def cli(self, *arguments):
        return CliRunner().invoke(cmd_root, [str(argument) for argument in arguments])


# ------------------------------------------------------------------------------------------------ the inputs


def _structure(symbols, scaled_positions, a=3.75, pbc=True):
    from ase import Atoms

    return orm.StructureData(ase=Atoms(symbols, scaled_positions=scaled_positions, cell=np.eye(3) * a, pbc=pbc))


CU3AU_POSITIONS = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]


def _trajectory(frames=400, jump=None, nan=False):
    """Cu3Au 2×2×2 (32 atoms, 7.5 Å) vibrating at 0.05 Å per frame, 10 fs apart; optionally atom 1 jumping by
    ``jump`` (fraction of the cell) along x at frame 200, or a NaN in frame 100."""
    rng = np.random.default_rng(5)
    sites = _structure('AuCu3', CU3AU_POSITIONS).get_ase().repeat(2)
    positions = sites.positions + rng.normal(0.0, 0.05, (frames, len(sites), 3))
    if jump is not None:
        positions[200:, 1, 0] += jump * 7.5
    if nan:
        positions[100, 3, 1] = np.nan
    times = np.arange(frames) * 0.01
    cells = np.repeat(np.eye(3)[None] * 7.5, frames, axis=0)
    trajectory = build_trajectory(sites.get_chemical_symbols(), positions, cells, times, np.arange(frames))
    return trajectory.store()


def _analyse(trajectory):
    _, node = compute_trajectory_descriptors.run_get_node(trajectory, orm.Str('Cu'), orm.Float(900.0))
    return node


def _elastic(kit):
    tensor = np.diag([150.0, 150.0, 150.0, 60.0, 60.0, 60.0])
    tensor[:3, :3] += 200.0 - np.diag([200.0] * 3)  # C12 = 200 GPa > C11: not positive definite
    array = orm.ArrayData()
    array.set_array(ELASTIC_TENSOR_ARRAY, tensor)
    _, node = compute_elastic_descriptors.run_get_node(array.store(), kit.generate_structure('cu3au').store())
    return node


def _table_file(kit, change):
    from analysis_tables import planted_table

    path = kit.folder / 'table.csv'
    change(planted_table()).to_csv(path, index_label='row_uuid')
    return path


def _analyze(kit, change):
    path = _table_file(kit, change)
    result = kit.cli('analyze', path, '-o', kit.folder / 'report', '--no-ml')
    assert not (kit.folder / 'report').exists()  # no half-written report
    return result


def _export_empty_group(kit):
    group, _ = orm.Group.collection.get_or_create('no-rows-here')
    group.add_nodes(kit.generate_structure('cu3au').store())
    existing = kit.folder / 'kept.csv'
    existing.write_text('an earlier table\n')
    return kit.cli('export', existing, '-G', group.label, '--force')  # --force, yet the old file stays


BAD_INPUTS = [
    BadInput(
        'no mobile species (SseWorkChain)',
        lambda kit: run_get_node(kit.sse(kit.generate_structure('au', repeat=1))),
        Refusal(r'no mobile species|mobile', raises=ValueError),
    ),
    BadInput(
        'no atom of the mobile species named (MdWorkChain)',
        lambda kit: run_get_node(_with(kit.md(), mobile_species=orm.Str('Li'))),
        Refusal('has no atom of the mobile species Li', raises=ValueError),
    ),
    BadInput(
        'a non-periodic structure',
        lambda kit: run_get_node(kit.sse(_structure('AuCu3', CU3AU_POSITIONS, pbc=False))),
        Refusal(r'must be periodic in 3 dimensions, got pbc=\[False, False, False\]', raises=ValueError),
    ),
    BadInput(
        'overlapping atoms',
        lambda kit: run_get_node(kit.sse(_structure('AuCu3Cu', [*CU3AU_POSITIONS, [0.01, 0.5, 0.5]]))),
        Refusal(r'overlapping atoms: Cu 1 and Cu 4 are 0\.03\d Å apart', raises=ValueError),
    ),
    BadInput(
        'overlapping atoms (MdWorkChain)',
        lambda kit: run_get_node(kit.md(_structure('AuCu3Au', [*CU3AU_POSITIONS, [0.0, 0.0, 0.05]]))),
        Refusal(r'overlapping atoms: Au 0 and Au 4 are 0\.188 Å apart', raises=ValueError),
    ),
    BadInput(
        'an element the potential does not cover (EMT, Li)',
        lambda kit: run_get_node(kit.sse(kit.generate_structure('li3n', repeat=1, vacancy=False))),
        Refusal(r'the emt potential does not cover Li', raises=ValueError),
    ),
    BadInput(
        'an element the bundled ML potential does not cover (CHGNet, Am)',
        lambda kit: run_get_node(
            kit.sse(_structure('AmCu3', CU3AU_POSITIONS), model=get_model_node('chgnet', model_version='0.3.0'))
        ),
        Refusal(
            r'the chgnet potential does not cover Am: it is defined for 94 elements \(H to Pu\)', raises=ValueError
        ),
    ),
    BadInput(
        'a temperature of 0 K (SseWorkChain)',
        lambda kit: kit.sse(temperatures=[900.0, 0.0]),
        Refusal(r'`temperatures` must be a non-empty list of positive numbers', raises=ValueError),
    ),
    BadInput(
        'a negative temperature (MdWorkChain)',
        lambda kit: run_get_node(_with(kit.md(), temperature=orm.Float(-300.0))),
        Refusal(r'`temperature` must be > 0, got -300', raises=ValueError),
    ),
    BadInput(
        'a time step of 0 fs',
        lambda kit: run_get_node(kit.sse(md={'timestep': 0.0})),
        Refusal(r'`timestep` must be > 0, got 0', raises=ValueError),
    ),
    BadInput(
        'a trajectory with NaNs',
        lambda kit: _analyse(_trajectory(nan=True)),
        Refusal(r'ERROR_INVALID_INPUT: .*NaN', exit_status=300),
    ),
    BadInput(
        'a jump larger than half a cell between frames (write interval too long)',
        lambda kit: _analyse(_trajectory(jump=0.55)),
        Refusal(
            r'atom 1 \(Cu\) moves 0\.4\d of a cell vector between frames 199 and 200.*write frames more often',
            exit_status=300,
        ),
    ),
    BadInput(
        'a trajectory too short for the fit window',
        lambda kit: _analyse(_trajectory(frames=4)),
        Refusal(r'4 frames are too few for the fit window', exit_status=300),
    ),
    BadInput(
        'an elastic tensor that is not positive definite',
        _elastic,
        Refusal(r'positive definiteness of C \(non-positive eigenvalues: -50, -50 GPa\)', exit_status=310),
    ),
    BadInput(
        'a CSV with unknown columns (analyze)',
        lambda kit: _analyze(kit, lambda table: table.assign(favourite_colour='blue')),
        Refusal(r'unknown columns: favourite_colour', exit_code=1),
    ),
    BadInput(
        'a CSV with missing columns (analyze)',
        lambda kit: _analyze(kit, lambda table: table.drop(columns=['formula', 'temperature_K'])),
        Refusal(r'missing required columns: .*formula', exit_code=1),
    ),
    BadInput(
        'a group with no descriptor rows (export)',
        _export_empty_group,
        Refusal(r"no descriptor rows .* group 'no-rows-here'", exit_code=1),
    ),
    BadInput(
        'a profile with no descriptor rows (export)',
        export_empty_profile,
        Refusal(r"no descriptor rows .* in profile 'empty'", exit_code=1),
    ),
    BadInput(
        'an unknown protocol name',
        lambda kit: kit.sse(protocol='superfast'),
        Refusal(r"unknown protocol 'superfast': choose one of \['balanced', 'fast', 'stringent'\]", raises=ValueError),
    ),
    BadInput(
        'an unknown override key',
        lambda kit: kit.sse(md={'stepz': 100}),
        Refusal(r'unknown override `md\.stepz`: known keys at this level are', raises=ValueError),
    ),
    BadInput(
        'a NaN temperature (SseWorkChain)',
        lambda kit: kit.sse(temperatures=[900.0, float('nan')]),
        Refusal(r'`temperatures` must be a finite number of kelvin, got nan', raises=ValueError),
    ),
    BadInput(
        'an infinite temperature (SseWorkChain)',
        lambda kit: kit.sse(temperatures=[float('inf'), 900.0]),
        Refusal(r'`temperatures` must be a finite number of kelvin, got inf', raises=ValueError),
    ),
    BadInput(
        'an absurd temperature, 70000 K for 700 (SseWorkChain)',
        lambda kit: kit.sse(temperatures=[500.0, 70000.0]),
        Refusal(r'`temperatures` = 70000 K is outside the plausible range 0 < T <= 5000 K', raises=ValueError),
    ),
    BadInput(
        'two temperatures equal within 1e-6 K (SseWorkChain)',
        lambda kit: kit.sse(temperatures=[700.0, 900.0, 700.0000001]),
        Refusal(r'`temperatures` repeats a temperature: 700\.0 and 700\.0000001 K are one MD run', raises=ValueError),
    ),
    BadInput(
        'temperatures as text (SseWorkChain)',
        lambda kit: kit.sse(temperatures='700 900'),
        Refusal(r"`temperatures` must be a number or a list of numbers \(K\), got '700 900'", raises=ValueError),
    ),
    BadInput(
        'a NaN temperature (MdWorkChain builder)',
        lambda kit: md_builder(kit, temperature=float('nan')),
        Refusal(r'`temperature` must be a finite number of kelvin, got nan', raises=ValueError),
    ),
    BadInput(
        'a temperature of 0 K (MdWorkChain builder)',
        lambda kit: md_builder(kit, temperature=0.0),
        Refusal(r'`temperature` must be > 0, got 0 K', raises=ValueError),
    ),
    BadInput(
        'an absurd temperature (MdWorkChain builder)',
        lambda kit: md_builder(kit, temperature=9000.0),
        Refusal(r'`temperature` = 9000 K is outside the plausible range 0 < T <= 5000 K', raises=ValueError),
    ),
    BadInput(
        'a NaN time step (MdWorkChain builder)',
        lambda kit: md_builder(kit, overrides={'timestep': float('nan')}),
        Refusal(r'`timestep` must be > 0, got nan', raises=ValueError),
    ),
    BadInput(
        'two temperatures with one MD label, 1234.567 and 1234.5671 K (SseWorkChain)',
        lambda kit: kit.sse(temperatures=[1234.567, 1234.5671]),
        Refusal(r'`temperatures` repeats a temperature: .*are one MD run \(1234\.57 K\)', raises=ValueError),
    ),
    BadInput(
        'near-equal temperatures set on the builder (SseWorkChain)',
        lambda kit: _with(kit.sse(), temperatures=orm.List([700, 700.0000001])),
        Refusal(r'`temperatures` repeats a temperature: 700 and 700\.0000001 K', raises=ValueError),
    ),
    BadInput(
        'a mobile species that is not an element (import --mobile-species)',
        lambda kit: import_command(kit, vasp_folder(kit), '--mobile-species', 'li'),
        Refusal(r"--mobile-species\) 'li' is not an element symbol; .* e\.g\. Li", exit_code=1),
    ),
    BadInput(
        'overrides that are not a dict (SseWorkChain)',
        lambda kit: sse_builder(kit, overrides=[('md', {'steps': 100})]),
        Refusal(r'`overrides` must be a dict of protocol keys, .*got list', raises=ValueError),
    ),
    BadInput(
        'overrides that are not a dict (MdWorkChain)',
        lambda kit: md_builder(kit, overrides='stringent'),
        Refusal(r"`overrides` must be a dict of protocol keys, .*got str 'stringent'", raises=ValueError),
    ),
    BadInput(
        'code=None (SseWorkChain)',
        lambda kit: sse_builder(kit, code=None),
        Refusal(r'`code` is missing: pass the code to run with.*`verdi code list`', raises=ValueError),
    ),
    BadInput(
        'code=None (MdWorkChain)',
        lambda kit: md_builder(kit, code=None),
        Refusal(r'`code` is missing: pass the code to run with.*`verdi code list`', raises=ValueError),
    ),
    BadInput(
        'code=None (ElasticWorkChain)',
        lambda kit: ElasticWorkChain.get_builder_from_protocol(
            None, kit.generate_structure('cu3au'), 'fast', model=kit.emt_model
        ),
        Refusal(r'`code` is missing: pass the code to run with.*`verdi code list`', raises=ValueError),
    ),
    BadInput(
        'an ase.Atoms given as overrides by mistake (PhononsWorkChain)',
        lambda kit: PhononsWorkChain.get_builder_from_protocol(
            kit.python_code,
            kit.generate_structure('cu3au'),
            'fast',
            kit.generate_structure('cu3au').get_ase(),
            model=kit.emt_model,
        ),
        Refusal(r'`overrides` must be a dict of protocol keys, .*got Atoms', raises=ValueError),
    ),
    BadInput(
        'a code label instead of a code (MdWorkChain)',
        lambda kit: md_builder(kit, code='python@localhost'),
        Refusal(r"`code` must be an AiiDA code \(orm.load_code.*got str 'python@localhost'", raises=ValueError),
    ),
    BadInput(
        'a structure that is a file name (SseWorkChain)',
        lambda kit: sse_builder(kit, structure='Li3N.cif'),
        Refusal(r'`structure` must be a StructureData, e\.g\. orm\.StructureData\(ase=.*got str', raises=ValueError),
    ),
    BadInput(
        'a temperature of NaN (import --temperature)',
        lambda kit: import_command(kit, vasp_folder(kit), '--temperature', 'nan'),
        Refusal(r'`temperature_K` must be a finite number of kelvin, got nan \(--temperature\)', exit_code=1),
    ),
    BadInput(
        'a negative temperature (import --temperature)',
        lambda kit: import_command(kit, vasp_folder(kit), '--temperature', '-650'),
        Refusal(r'`temperature_K` must be > 0, got -650 K \(--temperature\)', exit_code=1),
    ),
    BadInput(
        'an absurd temperature (import --temperature)',
        lambda kit: import_command(kit, vasp_folder(kit), '--temperature', '65000'),
        Refusal(r'`temperature_K` = 65000 K is outside the plausible range', exit_code=1),
    ),
    BadInput(
        'a frame interval of 0 fs (import --frame-interval-fs)',
        lambda kit: import_command(kit, extxyz_file(kit), '--frame-interval-fs', '0'),
        Refusal(r'frame_interval_fs \(--frame-interval-fs\) must be a finite time > 0 fs, got 0', exit_code=1),
    ),
    BadInput(
        'a NaN frame interval (import --frame-interval-fs)',
        lambda kit: import_command(kit, extxyz_file(kit), '--frame-interval-fs', 'nan', '--temperature', '600'),
        Refusal(r'frame_interval_fs \(--frame-interval-fs\) must be a finite time > 0 fs, got nan', exit_code=1),
    ),
    BadInput(
        'a negative time step (import --timestep-fs)',
        lambda kit: import_command(kit, vasp_folder(kit), '--timestep-fs', '-2'),
        Refusal(r'timestep_fs \(--timestep-fs\) must be a finite time > 0 fs, got -2', exit_code=1),
    ),
    BadInput(
        'the same run folder twice (import)',
        lambda kit: import_command(kit, vasp_folder(kit), vasp_folder(kit)),
        Refusal(r'run is given twice \(.*/run and .*/run are the same file\).*nothing was imported', exit_code=1),
    ),
    BadInput(
        'one run folder by two paths, one a symlink (import)',
        same_folder_by_another_path,
        Refusal(r'latest is given twice \(.*/run and .*/latest are the same file\)', exit_code=1),
    ),
    BadInput(
        'a copy of a run folder as its next segment (import)',
        copied_folder,
        Refusal(r'run-restart is given twice \(.*/run and .*/run-restart are the same trajectory', exit_code=1),
    ),
    BadInput(
        "the first segment's XDATCAR.gz copied into the second's folder (import)",
        copied_xdatcar,
        Refusal(r'run-2 is given twice \(.*/run and .*/run-2 are the same trajectory \(identical', exit_code=1),
    ),
    BadInput(
        'a copy of a trajectory file under another name (import)',
        copied_file,
        Refusal(r'walk-2\.extxyz is given twice .*the same trajectory \(identical bytes\)', exit_code=1),
    ),
    BadInput(
        'a truncated XDATCAR.gz (import)',
        lambda kit: damaged_xdatcar(kit, lambda data: data[: len(data) // 2]),
        Refusal(r'XDATCAR\.gz: the \.gz archive is truncated .*copy the file again', exit_code=1),
    ),
    BadInput(
        'a garbled XDATCAR.gz (import)',
        lambda kit: damaged_xdatcar(kit, garbled),
        Refusal(r'XDATCAR\.gz: not a valid \.gz archive \(Error -3 .*\); copy the file again', exit_code=1),
    ),
    BadInput(
        'a plain XDATCAR named .gz (import)',
        lambda kit: damaged_xdatcar(kit, __import__('gzip').decompress),
        Refusal(r'XDATCAR\.gz: not a valid \.gz archive \(.*incorrect header check\)', exit_code=1),
    ),
    BadInput(
        'an empty XDATCAR.gz (import)',
        lambda kit: damaged_xdatcar(kit, lambda data: b''),
        Refusal(r'XDATCAR\.gz: the file is empty \(0 bytes\)', exit_code=1),
    ),
    BadInput(
        'a truncated .extxyz.gz (import)',
        truncated_extxyz_gz,
        Refusal(r'walk\.extxyz\.gz: the \.gz archive is truncated', exit_code=1),
    ),
    BadInput(
        'an empty INCAR (import)',
        lambda kit: import_command(kit, vasp_folder(kit, incar='')),
        Refusal(r'run/INCAR: the file is empty \(0 bytes\)', exit_code=1),
    ),
    BadInput(
        'an INCAR without POTIM (import)',
        lambda kit: import_command(kit, vasp_folder(kit, incar=incar_without('POTIM'))),
        Refusal(r'run/INCAR: no POTIM, so the time between frames of the XDATCAR is unknown.*--timestep', exit_code=1),
    ),
    BadInput(
        'an INCAR with POTIM = 2 fs (import)',
        lambda kit: import_command(kit, vasp_folder(kit, incar=incar_without('POTIM') + 'POTIM = 2 fs\n')),
        Refusal(r"run/INCAR: POTIM = '2 fs' is not a number of fs > 0; write it as VASP reads it", exit_code=1),
    ),
    BadInput(
        'an INCAR with TEBEG = 500 K (import)',
        lambda kit: import_command(kit, vasp_folder(kit, incar=incar_without('TEBEG') + 'TEBEG = 500 K\n')),
        Refusal(r"run/INCAR: TEBEG = '500 K' is not a number of K > 0", exit_code=1),
    ),
    BadInput(
        'an empty table file (analyze)',
        lambda kit: analyze_file(kit, 'table.csv', b''),
        Refusal(r'table\.csv: not a readable CSV table \(EmptyDataError: No columns to parse from file\)', exit_code=1),
    ),
    BadInput(
        'a CSV renamed .parquet (analyze)',
        lambda kit: analyze_file(kit, 'table.parquet', b'row_uuid,formula\nabc,Li3N\n'),
        Refusal(r'table\.parquet: not a readable PARQUET table \(ArrowInvalid: .*magic bytes', exit_code=1),
    ),
    BadInput(
        'an unknown code label (launch -X)',
        lambda kit: launch_command(kit, '-X', 'vasp_std@cluster'),
        Refusal(r"--code.*no code 'vasp_std@cluster' in profile .*`verdi code list` lists them", exit_code=2),
    ),
    BadInput(
        'an unknown vasp_gam code label (launch --code-gamma)',
        lambda kit: launch_command(
            kit,
            *('--engine', 'vasp', '-X', kit.python_code.full_label, '--code-gamma', 'vasp_gam@cluster'),
            *('--potential-family', 'PBE.54', '--potential', 'Li=Li_sv', '--potential', 'N=N'),
        ),
        Refusal(r"--code-gamma.*no code 'vasp_gam@cluster' in profile .*`verdi code list` lists them", exit_code=2),
    ),
    BadInput(
        'an unknown potential name (launch --potential)',
        lambda kit: launch_command(kit, '-X', kit.python_code.full_label, '--potential', 'mace-mp'),
        Refusal(r"unknown potential 'mace-mp': choose one of .*`aiida-superionic potentials` lists them", exit_code=2),
    ),
    BadInput(
        'a profile that does not exist (launch -p)',
        lambda kit: launch_command(kit, profile='my-project'),
        Refusal(r'profile `my-project` does not exist: `verdi profile list` lists the profiles', exit_code=1),
    ),
    BadInput(
        'a profile that does not exist (import -p)',
        lambda kit: import_command(kit, vasp_folder(kit), '-p', 'my-project'),
        Refusal(r'profile `my-project` does not exist: `verdi profile list` lists the profiles', exit_code=1),
    ),
    BadInput(
        'an MD cell beyond the atom budget (SseWorkChain)',
        lambda kit: kit.sse(md_supercell_min_length=40.0),
        Refusal(
            r'the MD would be 4 MD runs of up to \d+ atoms.*is more than max_md_atoms = 1000.*accept_cost=True',
            raises=ValueError,
        ),
    ),
    BadInput(
        'a negative MD supercell length (SseWorkChain)',
        lambda kit: kit.sse(md_supercell_min_length=-5.0),
        Refusal(r'`md_supercell_min_length` must be a length in Å >= 0, got -5\.0', raises=ValueError),
    ),
    BadInput(
        'a negative number of MD runs at once (SseWorkChain)',
        lambda kit: kit.sse(max_concurrent_md=-1),
        Refusal(r'`max_concurrent_md` must be >= 0, got -1', raises=ValueError),
    ),
    BadInput(
        'a relaxation to zero force (SseWorkChain)',
        lambda kit: kit.sse(relax_max_force=0.0),
        Refusal(r'`relax_max_force` must be > 0, got 0\.0', raises=ValueError),
    ),
    BadInput(
        'no temperature at all (SseWorkChain)',
        lambda kit: kit.sse(temperatures=[]),
        Refusal(r'`temperatures` must be a non-empty list of positive numbers \(K\), got \[\]', raises=ValueError),
    ),
    BadInput(
        'MD of 0 steps (SseWorkChain)',
        lambda kit: kit.sse(md={'steps': 0}),
        Refusal(r'`steps` must be > 0, got 0', raises=ValueError),
    ),
    BadInput(
        'a zero strain for the elastic tensor (SseWorkChain)',
        lambda kit: kit.sse(elastic={'strains': {'normal_strains': [0.0], 'shear_strains': [0.02]}}),
        Refusal(r'`normal_strains` must be non-zero magnitudes below 0\.1', raises=ValueError),
    ),
    BadInput(
        'an unknown preset (SseWorkChain)',
        lambda kit: sse_builder_with(kit, preset='tiny'),
        Refusal(r"unknown preset 'tiny': choose one of \['test_size'\]", raises=ValueError),
    ),
    BadInput(
        'a mobile species the structure does not have (SseWorkChain)',
        lambda kit: sse_builder_with(kit, mobile_species='Xx'),
        Refusal(r"the mobile species 'Xx' is not in the structure \(Au, Cu\)", raises=ValueError),
    ),
    BadInput(
        'options as a list (SseWorkChain)',
        lambda kit: sse_builder_with(kit, options=['account']),
        Refusal(r"`options` must be a dict of the calculations' metadata\.options.*got list", raises=ValueError),
    ),
    BadInput(
        'engine= as in the former signature (SseWorkChain)',
        lambda kit: sse_builder_with(kit, engine='ase'),
        Refusal(r"`engine` is no longer an argument: the engine is the code's", raises=ValueError),
    ),
    BadInput(
        'a misspelt engine option (SseWorkChain)',
        lambda kit: sse_builder_with(kit, potental='sevenn'),
        Refusal(r"unknown argument\(s\) \['potental'\]: the engine options are", raises=ValueError),
    ),
    BadInput(
        'the temperature given where the protocol goes (MdWorkChain)',
        lambda kit: MdWorkChain.get_builder_from_protocol(
            kit.python_code, kit.generate_structure('cu3au'), 600.0, model=kit.emt_model
        ),
        Refusal(
            r'`protocol` is a protocol name, got the number 600\.0: the temperature is a keyword', raises=ValueError
        ),
    ),
    BadInput(
        'no temperature (MdWorkChain)',
        lambda kit: MdWorkChain.get_builder_from_protocol(
            kit.python_code, kit.generate_structure('cu3au'), 'fast', model=kit.emt_model
        ),
        Refusal(r'`temperature` is missing: give the MD temperature in K', raises=ValueError),
    ),
]


def sse_builder_with(kit, **arguments):
    """``SseWorkChain.get_builder_from_protocol`` on Cu3Au with EMT and one argument of a user's."""
    return SseWorkChain.get_builder_from_protocol(
        kit.python_code,
        kit.generate_structure('cu3au', repeat=1, vacancy=False),
        'fast',
        model=kit.emt_model,
        **arguments,
    )


def _with(builder, **changes):
    for name, value in changes.items():
        setattr(builder, name, value)
    return builder


def _stored_state(folder: pathlib.Path) -> dict:
    """Every node's attributes and repository (its metadata lists each file's content hash), and every file under
    ``folder``: one query, no node loaded."""
    query = orm.QueryBuilder().append(orm.Node, project=['uuid', 'attributes', 'repository_metadata'])
    nodes = {uuid: json.dumps([attributes, repository], sort_keys=True) for uuid, attributes, repository in query.all()}
    files = {path: path.read_bytes() for path in folder.rglob('*') if path.is_file()}
    return {'nodes': nodes, 'files': files}


@pytest.mark.parametrize('bad', BAD_INPUTS, ids=[bad.what for bad in BAD_INPUTS])
def test_bad_input_gets_a_clear_answer_and_nothing_stored_is_lost(
    aiida_profile, python_code, emt_model, generate_structure, tmp_path, bad
):
    kit = Kit(python_code, emt_model, generate_structure, tmp_path)
    earlier = _trajectory()  # something computed before: it must survive every bad input untouched
    before = _stored_state(tmp_path)
    refusal = bad.refusal
    if refusal.raises is not None:
        with pytest.raises(refusal.raises, match=refusal.message):
            bad.attempt(kit)
    else:
        outcome = bad.attempt(kit)
        if refusal.exit_status is not None:
            assert outcome.exit_status == refusal.exit_status, outcome.exit_message
            assert _matches(refusal.message, f'{outcome.exit_message}'), outcome.exit_message
        else:
            assert outcome.exit_code == refusal.exit_code, outcome.output
            assert _matches(refusal.message, outcome.output), outcome.output
            # A command answers in one line: CliRunner catches an uncaught exception (exit 1, no traceback
            # printed), so the exception itself is checked too, besides the output of a subprocess.
            assert 'Traceback' not in outcome.output, outcome.output
            exception = getattr(outcome, 'exception', None)
            assert exception is None or isinstance(exception, SystemExit), repr(exception)
            assert len([line for line in outcome.output.splitlines() if line.startswith('Error')]) == 1
    after = _stored_state(tmp_path)
    assert not {uuid for uuid in before['nodes'] if after['nodes'].get(uuid) != before['nodes'][uuid]}
    kept_files = {path for path, content in before['files'].items() if after['files'].get(path) == content}
    assert kept_files == set(before['files'])
    assert orm.load_node(earlier.uuid).get_positions().shape == (400, 32, 3)


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, ' '.join(text.split())) is not None


def test_a_single_temperature_is_taken_as_one_temperature(aiida_profile, python_code, emt_model, generate_structure):
    """``temperatures=700`` where a list is expected means one MD temperature, not a refusal."""
    builder = Kit(python_code, emt_model, generate_structure, None).sse(temperatures=700)
    assert builder.temperatures.get_list() == [700.0]


def test_an_ase_atoms_structure_is_converted(aiida_profile, python_code, emt_model, generate_structure):
    """An ``ase.Atoms`` given as ``structure`` is what the user meant: it becomes a ``StructureData``."""
    atoms = generate_structure('cu3au').get_ase()
    kit = Kit(python_code, emt_model, generate_structure, None)
    for builder in (md_builder(kit, structure=atoms), sse_builder(kit, structure=atoms.repeat(1))):
        assert builder.structure.get_ase().get_chemical_formula() == atoms.get_chemical_formula()
