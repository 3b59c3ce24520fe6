"""Fixtures on top of ``aiida.tools.pytest_fixtures`` (a throw-away SQLite profile per session)."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys

import numpy as np
import pytest

pytest_plugins = ['aiida.tools.pytest_fixtures']

#: Where the developers' shared real MD data may be (not part of the project): ``$SUPERIONIC_REALDATA``,
#: ``../shared/realdata`` beside the checkout, or the workplace's ``/work/shared/realdata`` (CI clones
#: elsewhere). Tests that use it skip when none exists.
REALDATA_CANDIDATES = [
    pathlib.Path(path)
    for path in (
        os.environ.get('SUPERIONIC_REALDATA'),
        pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'realdata',
        '/work/shared/realdata',
    )
    if path
]


@pytest.fixture(scope='session', autouse=True)
def aiida_profile(aiida_config, aiida_profile_factory):
    """The test profile is the embedded default of the project: SQLite storage and the ZeroMQ broker (no services).

    With a broker, processes can be submitted to a daemon and killed, as users do; ``run`` works as without.
    ``runner.poll.interval`` is 1 s as ``verdi presto`` sets it (60 s by default: a daemon test would crawl).
    ``daemon.timeout`` is 60 s: the suite runs on two processes, and a loaded machine stops a daemon slowly.
    """
    with aiida_profile_factory(aiida_config, broker_backend='core.zeromq') as profile:
        aiida_config.set_option('runner.poll.interval', 1, scope=profile.name)
        # The circus calls (stop the daemon at the end of the session) wait 2 s by default: too short on
        # 2 cores with the other test process busy, where stopping the workers takes longer.
        aiida_config.set_option('daemon.timeout', 60, scope=profile.name)
        aiida_config.store()
        yield profile


#: Lines the scale mode (``test_scale.py``) leaves for the end of the run: throughput and faults of each batch.
SCALE_SUMMARY = pytest.StashKey[list]()


@pytest.fixture(scope='session')
def scale_summary(request) -> list[str]:
    """Lines printed in the ``scale`` section of the test summary, also when the test fails or output is captured."""
    return request.config.stash.setdefault(SCALE_SUMMARY, [])


def pytest_terminal_summary(terminalreporter, config):
    lines = config.stash.get(SCALE_SUMMARY, [])
    if lines:
        terminalreporter.section('scale: batch throughput and fault injection')
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config, items):
    """Skip ``chgnet`` and ``sevenn`` tests cleanly when the ML extra is not installed."""
    for package in ('chgnet', 'sevenn'):
        if importlib.util.find_spec(package) is None:
            skip = pytest.mark.skip(reason=f'{package} is not installed (install the `ml` extra: see the README)')
            for item in items:
                if package in item.keywords:
                    item.add_marker(skip)


@pytest.fixture(scope='session')
def realdata() -> pathlib.Path:
    """The shared real-data folder; the test is skipped when it is absent."""
    for path in REALDATA_CANDIDATES:
        if path.is_dir():
            return path
    pytest.skip(f'real MD data not found in {[str(p) for p in REALDATA_CANDIDATES]} (set SUPERIONIC_REALDATA)')


@pytest.fixture(scope='session')
def lgps(realdata):
    """pymatgen's LGPS ``DiffusionAnalyzer`` (VASP AIMD, 600 K) and the same run as wrapped arrays.

    :return: ``(analyzer, positions, lattice, times_ps, symbols)``; positions are Cartesian (Å),
        wrapped into the cell so that our unwrapping is part of every comparison.
    """
    import json

    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer

    path = realdata / 'pmgdiff_DiffusionAnalyzer' / 'DiffusionAnalyzer.json'
    if not path.is_file():
        pytest.skip(f'{path} not found')
    analyzer = DiffusionAnalyzer.from_dict(json.loads(path.read_text()))
    lattice = analyzer.structure.lattice.matrix
    # disp[:, 0] is zero: positions = initial Cartesian coordinates + displacements.
    continuous = analyzer.structure.cart_coords[None] + analyzer.disp.transpose(1, 0, 2)
    positions = (np.einsum('tnj,jk->tnk', continuous, np.linalg.inv(lattice)) % 1.0) @ lattice
    symbols = [site.specie.symbol for site in analyzer.structure]
    times = np.arange(len(positions)) * analyzer.time_step * analyzer.step_skip / 1000.0  # 2 fs x 10
    return analyzer, positions, lattice, times, symbols


@pytest.fixture
def python_code(aiida_code_installed):
    """An ``InstalledCode`` running this interpreter, the code of ``superionic.ase`` jobs."""
    return aiida_code_installed(
        label='superionic-python',
        default_calc_job_plugin='superionic.ase',
        filepath_executable=sys.executable,
    )


@pytest.fixture
def generate_structure():
    """Return a factory of ``StructureData``.

    ``cu3au`` (L1_2, EMT covers it; Cu is the mobile species), ``li3n`` (P6/mmm, for CHGNet) and
    ``au`` (fcc, no mobile species), repeated ``repeat`` times along each axis, by default with
    one mobile-ion vacancy.
    """
    from aiida import orm
    from ase import Atoms
    from ase.build import bulk

    def factory(name: str = 'cu3au', repeat: int = 2, vacancy: bool = True):
        if name == 'cu3au':
            atoms = Atoms(
                'AuCu3',
                scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
                cell=np.eye(3) * 3.75,
                pbc=True,
            )
        elif name == 'li3n':
            a, c = 3.648, 3.875
            atoms = Atoms(
                'NLi3',
                scaled_positions=[[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0]],
                cell=[[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]],
                pbc=True,
            )
        elif name == 'au':
            atoms = bulk('Au', 'fcc', a=4.08, cubic=True)
        else:
            raise ValueError(f'unknown test structure {name}')
        atoms = atoms.repeat(repeat)
        mobile = {'cu3au': 'Cu', 'li3n': 'Li'}.get(name)
        if vacancy and mobile:
            del atoms[next(atom.index for atom in atoms if atom.symbol == mobile)]
        return orm.StructureData(ase=atoms)

    return factory


@pytest.fixture
def emt_model():
    """The ``model`` input for ASE's EMT calculator."""
    from aiida_superionic.engines.ase import get_model_node

    return get_model_node('emt')


@pytest.fixture
def serialize_builder():
    """Return a function that turns a process builder into plain data for ``data_regression``."""
    from aiida import orm

    def serialize(value):
        if isinstance(value, orm.BaseType):
            return value.value
        if isinstance(value, orm.Dict):
            return value.get_dict()
        if isinstance(value, orm.List):
            return value.get_list()
        if isinstance(value, orm.StructureData):
            return value.get_formula()
        if isinstance(value, orm.AbstractCode):
            return value.full_label
        if isinstance(value, orm.Node):
            return type(value).__name__
        if hasattr(value, 'items'):
            return {key: serialize(item) for key, item in value.items() if item not in ({}, None)}
        return value

    def factory(builder):
        return serialize(builder._inputs(prune=True))

    return factory
