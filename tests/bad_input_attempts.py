"""What rows of the bad-input table do: the builders called as users call them with one argument wrong, and the
files of the import and analyze rows made to look like what users bring (a VASP run folder with a gzipped XDATCAR
and a real-looking NVT INCAR, an extended-XYZ trajectory), damaged or given twice on their way from a cluster."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
from aiida import orm

from aiida_superionic.workflows.md import MdWorkChain
from aiida_superionic.workflows.sse import SseWorkChain


def md_builder(kit, temperature=600.0, code=..., structure=None, overrides=None):
    """``MdWorkChain.get_builder_from_protocol`` called as a user calls it, with one argument wrong."""
    return MdWorkChain.get_builder_from_protocol(
        code=kit.python_code if code is ... else code,
        structure=structure if structure is not None else kit.generate_structure('cu3au'),
        temperature=temperature,
        protocol='fast',
        overrides=overrides,
        model=kit.emt_model,
    )


def sse_builder(kit, overrides=None, code=..., structure=None):
    """``SseWorkChain.get_builder_from_protocol`` called as a user calls it, with one argument wrong."""
    return SseWorkChain.get_builder_from_protocol(
        kit.python_code if code is ... else code,
        structure if structure is not None else kit.generate_structure('cu3au', repeat=1, vacancy=False),
        'fast',
        overrides=overrides,
        model=kit.emt_model,
    )


def vasp_folder(kit, name='run', incar=None, frames=40):
    """A VASP MD run folder as a user has it: a gzipped XDATCAR (Li12P2S8, VASP 5) and an NVT INCAR."""
    from vasp_files import INCAR_MD, random_md_frames, write_xdatcar

    folder = kit.folder / name
    folder.mkdir(parents=True, exist_ok=True)
    fractional = np.round(random_md_frames(frames, [12, 2, 8], seed=1, step_A=0.2), 8)
    cell = np.diag([10.0, 10.5, 11.0])
    write_xdatcar(folder / 'XDATCAR.gz', fractional, cell, ['Li', 'P', 'S'], [12, 2, 8], nblock=50, compression='gzip')
    (folder / 'INCAR').write_text(INCAR_MD if incar is None else incar)
    return folder


def import_command(kit, *arguments):
    """``aiida-superionic import`` with ``arguments``; nothing may be stored by a refused import."""
    nodes_before = orm.QueryBuilder().append(orm.Node).count()
    result = kit.cli('import', *arguments)
    if result.exit_code != 0:
        assert orm.QueryBuilder().append(orm.Node).count() == nodes_before, 'a refused import stored nodes'
    return result


def same_folder_by_another_path(kit):
    folder = vasp_folder(kit)
    (kit.folder / 'latest').symlink_to(folder, target_is_directory=True)
    return import_command(kit, folder, kit.folder / 'latest')


def copied_folder(kit):
    import shutil

    folder = vasp_folder(kit)
    shutil.copytree(folder, kit.folder / 'run-restart')
    return import_command(kit, folder, kit.folder / 'run-restart')


def copied_xdatcar(kit):
    """Two segments' folders, each with its INCAR, the first's XDATCAR.gz copied into the second by mistake."""
    from vasp_files import INCAR_MD

    first = vasp_folder(kit)
    second = vasp_folder(kit, name='run-2', incar=INCAR_MD.replace('NSW    = 10000', 'NSW    = 20000'))
    (second / 'XDATCAR.gz').write_bytes((first / 'XDATCAR.gz').read_bytes())
    return import_command(kit, first, second)


def copied_file(kit):
    path = extxyz_file(kit)
    (kit.folder / 'walk-2.extxyz').write_bytes(path.read_bytes())
    return import_command(kit, path, kit.folder / 'walk-2.extxyz', '--frame-interval-fs', '50', '--temperature', '600')


def damaged_xdatcar(kit, damage):
    """A VASP folder whose XDATCAR.gz was cut or garbled on its way from the cluster (``damage`` edits its bytes)."""
    folder = vasp_folder(kit, frames=200)
    archive = folder / 'XDATCAR.gz'
    archive.write_bytes(damage(archive.read_bytes()))
    return import_command(kit, folder)


def garbled(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(byte ^ 0x5A for byte in data[middle : middle + 64]) + data[middle + 64 :]


def incar_without(tag):
    import re

    from vasp_files import INCAR_MD

    return re.sub(rf'^{tag}\s*=.*$', '', INCAR_MD, flags=re.MULTILINE)


def truncated_extxyz_gz(kit):
    import gzip

    path = extxyz_file(kit)
    data = gzip.compress(path.read_bytes())
    compressed = kit.folder / 'walk.extxyz.gz'
    compressed.write_bytes(data[: len(data) * 2 // 3])
    path.unlink()
    return import_command(kit, compressed, '--frame-interval-fs', '50', '--temperature', '600')


def analyze_file(kit, name, content: bytes):
    path = kit.folder / name
    path.write_bytes(content)
    result = kit.cli('analyze', path, '-o', kit.folder / 'report', '--no-ml')
    assert not (kit.folder / 'report').exists()
    return result


def extxyz_file(kit, name='walk.extxyz'):
    """An extended-XYZ trajectory as ASE writes it: 8 Li and 4 Ge, 30 frames, cubic 8 Å cell."""
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(3)
    frames = [
        Atoms(['Li'] * 8 + ['Ge'] * 4, positions=rng.uniform(0, 8, (12, 3)), cell=np.eye(3) * 8.0, pbc=True)
        for _ in range(30)
    ]
    path = kit.folder / name
    write(path, frames, format='extxyz')
    return path


def launch_command(kit, *arguments, profile=None):
    """``aiida-superionic launch`` on a folder with one ordered CIF (Li3N) in the test profile (unless ``profile``);
    nothing may be submitted by a refused launch."""
    from aiida.manage import get_manager

    cifs = kit.folder / 'cifs'
    cifs.mkdir(exist_ok=True)
    kit.generate_structure('li3n', repeat=1, vacancy=False).get_pymatgen_structure().to(filename=str(cifs / 'Li3N.cif'))
    processes_before = orm.QueryBuilder().append(orm.ProcessNode).count()
    result = kit.cli('launch', cifs, '-p', profile or get_manager().get_profile().name, *arguments)
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == processes_before, 'a refused launch submitted'
    return result


def export_empty_profile(kit):
    """A profile with no descriptor row at all: a fresh one, made and read in another process."""
    environment = {**os.environ, 'AIIDA_PATH': str(kit.folder / 'empty-profile')}
    setup = ['profile', 'setup', 'core.sqlite_dos', '-n', '--profile-name', 'empty', '--broker', 'none']
    person = ['--email', 'x@example.org', '--first-name', 'X', '--last-name', 'Y', '--institution', 'Z']
    subprocess.run(
        [sys.executable, '-m', 'aiida', *setup, '--filepath', str(kit.folder / 'empty-storage'), *person],
        env=environment,
        check=True,
        capture_output=True,
    )
    command = [sys.executable, '-m', 'aiida_superionic.cli', 'export', str(kit.folder / 'table.csv'), '-p', 'empty']
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    return CliOutcome(completed.returncode, completed.stdout + completed.stderr)


@dataclasses.dataclass
class CliOutcome:
    exit_code: int
    output: str
