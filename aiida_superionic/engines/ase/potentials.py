"""The potentials of the ASE engine: what each one is, which elements it covers, and how to build it.

Each potential is an object of this module registered in the entry-point group ``superionic.potentials``
(``pyproject.toml``); another package adds its own by registering a :class:`Potential` there, and a user
names any ASE calculator without a package of their own through ``factory`` (an import path
``module:function`` and its keyword arguments).

Like ``runner.py``, this file imports nothing from ``aiida_superionic`` nor AiiDA: it is copied into each
job's folder (as ``superionic_ase_potentials.py``) and the runner builds the calculator there, on the
computer that runs the job, with the same code that described it on the client. Every description is
computed where it is called: on the client it records what is asked; in the job it records what ran.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import pathlib
from functools import lru_cache

#: The devices a job can be asked for: ``auto`` takes CUDA when the job's computer has it, else the CPU.
DEVICES = ('cpu', 'cuda', 'auto')

#: Entry-point group of the potentials.
ENTRY_POINT_GROUP = 'superionic.potentials'


class DeviceUnavailable(Exception):  # noqa: N818 (a state of the computer, reported as a status)
    """The device asked for is not on the computer that runs the job."""


def sha256_of_file(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def package_version(package: str) -> str | None:
    """The installed version of the distribution ``package``, or None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _package_folder(module: str) -> pathlib.Path:
    """The folder of an installed package, found without importing it (no torch import)."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f'{module} is not installed: install the `ml` extra (see the README)')
    return pathlib.Path(spec.origin).parent


def torch_devices() -> list[str]:
    """The devices torch can use here (``cpu``, plus ``cuda:N`` per GPU); only ``cpu`` without torch."""
    try:
        import torch
    except ImportError:
        return ['cpu']
    return ['cpu'] + [f'cuda:{index}' for index in range(torch.cuda.device_count())]


class Potential:
    """One potential: its package, its weights, the elements it covers and how it becomes an ASE calculator.

    Subclasses set the class attributes and implement :meth:`make`; ``weights_file`` and ``elements`` when
    the potential has weights or covers fewer than every element.
    """

    #: Short description shown by ``aiida-superionic potentials``.
    title = ''
    #: The distribution whose version is recorded.
    package = 'ase'
    #: Whether the weights ship inside the package (runs offline).
    bundled_weights = True
    #: Whether the calculator runs on torch (and so can use a CUDA device).
    uses_torch = False
    #: Keyword arguments the calculator gets when not given.
    defaults: dict = {}

    def __init__(self, name: str):
        self.name = name

    def resolve_kwargs(self, kwargs: dict | None) -> dict:
        """The calculator's keyword arguments with this potential's defaults filled in."""
        return {**self.defaults, **dict(kwargs or {})}

    def model_version(self, kwargs: dict) -> str | None:
        """A name of the trained model (the weights), or the package version for analytic potentials."""
        return package_version(self.package)

    def weights_file(self, kwargs: dict) -> pathlib.Path | None:
        """The file of the weights, or None when the parameters are the whole model."""
        return None

    def elements(self, kwargs: dict) -> frozenset[str] | None:
        """The chemical symbols the potential can evaluate, or None when it takes every element."""
        return None

    def make(self, kwargs: dict, device: str):
        """Return the ASE calculator on ``device`` (``cpu`` or ``cuda``)."""
        raise NotImplementedError

    def describe(self, kwargs: dict | None = None) -> dict:
        """The identity of the potential with ``kwargs``: package and version, model, weights file and hash.

        Without a weights file the hash is that of the canonical JSON of the name and the arguments.
        """
        kwargs = self.resolve_kwargs(kwargs)
        weights = self.weights_file(kwargs)
        if weights is not None:
            weights_sha256 = sha256_of_file(weights)
        else:
            canonical = json.dumps({'name': self.name, **kwargs}, sort_keys=True, default=str).encode()
            weights_sha256 = hashlib.sha256(canonical).hexdigest()
        return {
            'name': self.name,
            'package': self.package,
            'package_version': package_version(self.package),
            'model_version': self.model_version(kwargs),
            'weights_file': weights.name if weights is not None else None,
            'weights_sha256': weights_sha256,
            'calculator_kwargs': kwargs,
        }

    def _torch(self):
        """The torch module when the calculator runs on torch, else None."""
        if not self.uses_torch:
            return None
        import torch

        return torch

    def build(self, kwargs: dict, device: str, threads: int):
        """Return ``(calculator, used)``: the calculator on the resolved device and what it runs with.

        :param device: ``cpu``, ``cuda`` or ``auto``.
        :param threads: torch's intra-op threads (numpy's come from ``OMP_NUM_THREADS``, set by the job).
        :raises DeviceUnavailable: when ``cuda`` is asked for and this computer has none, or the potential
            cannot run on it; never falls back to the CPU.
        """
        kwargs = self.resolve_kwargs(kwargs)
        if device not in DEVICES:
            raise DeviceUnavailable(f'unknown device {device!r}: choose one of {", ".join(DEVICES)}')
        torch = self._torch()
        used = {'device_requested': device}
        if torch is not None:
            torch.set_num_threads(threads)
            used['torch_version'] = torch.__version__
        cuda = torch is not None and torch.cuda.is_available()
        if device == 'auto':
            device = 'cuda' if cuda else 'cpu'
        elif device == 'cuda' and not cuda:
            where = 'this computer has no CUDA device' if torch is not None else f'{self.name} runs on the CPU only'
            raise DeviceUnavailable(f'device `cuda` was asked for but {where}; ask for `cpu` or `auto`')
        calculator = self.make(kwargs, device)
        used['device'] = device
        used['threads'] = torch.get_num_threads() if torch is not None else threads
        if device == 'cuda':
            used['device_name'] = torch.cuda.get_device_name()
        return calculator, used

    def info(self) -> dict:
        """What ``aiida-superionic potentials`` shows: package, version, weights, elements, devices."""
        version = package_version(self.package)
        row = {'name': self.name, 'title': self.title, 'package': self.package, 'version': version}
        row['bundled_weights'] = self.bundled_weights
        if version is None:
            return {**row, 'installed': False, 'elements': None, 'devices': []}
        try:
            elements = self.elements(self.resolve_kwargs({}))
        except (FileNotFoundError, ModuleNotFoundError, ValueError) as exception:
            return {**row, 'installed': False, 'error': str(exception), 'elements': None, 'devices': []}
        devices = torch_devices() if self.uses_torch else ['cpu']
        return {
            **row,
            'installed': True,
            'elements': None if elements is None else sorted(elements),
            'devices': devices,
        }


class ChgnetPotential(Potential):
    title = 'CHGNet universal potential (MPtrj), weights in the chgnet wheel'
    package = 'chgnet'
    uses_torch = True
    defaults = {'model_version': '0.3.0'}
    #: Its atom embedding has one row per element H (1) to Pu (94).
    max_atomic_number = 94

    def model_version(self, kwargs):
        return kwargs['model_version']

    def weights_file(self, kwargs):
        folder = _package_folder('chgnet') / 'pretrained' / kwargs['model_version']
        files = sorted(folder.glob('*.pth.tar'))
        if not files:
            raise FileNotFoundError(f'no CHGNet weights for model version {kwargs["model_version"]!r} in {folder}')
        return files[0]

    def elements(self, kwargs):
        from ase.data import chemical_symbols

        return frozenset(chemical_symbols[1 : self.max_atomic_number + 1])

    def make(self, kwargs, device):
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        class AskedPropertiesCHGNet(CHGNetCalculator):
            """CHGNet computing only what ASE asks for: the stress (a strain derivative) roughly doubles the cost of a
            step, and an NVT MD never asks for it (32 atoms of Li3N on one core: 0.18 s a step instead of 0.33 s).
            Energies and forces are the same numbers either way."""

            def calculate(self, atoms=None, properties=None, system_changes=None, task=None):
                if task is None:
                    wanted = set(properties or ('energy', 'forces', 'stress'))
                    task = 'ef' + ('s' if 'stress' in wanted else '') + ('m' if 'magmoms' in wanted else '')
                super().calculate(atoms, properties, system_changes, task=task)

        model = CHGNet.load(model_name=kwargs['model_version'], use_device=device, verbose=False)
        return AskedPropertiesCHGNet(model=model, use_device=device, verbose=False)


class SevennetPotential(Potential):
    """SevenNet (``sevenn``): a pretrained model of the wheel by name, ``modal`` for a multi-fidelity one."""

    package = 'sevenn'
    uses_torch = True

    def __init__(self, name: str, model: str, modal: str | None = None, title: str = ''):
        super().__init__(name)
        self.defaults = {'model': model, **({'modal': modal} if modal else {})}
        self.title = title

    def model_version(self, kwargs):
        return kwargs['model'] + (f' ({kwargs["modal"]})' if kwargs.get('modal') else '')

    def weights_file(self, kwargs):
        # The path of the bundled checkpoint without importing sevenn (its import loads torch): the names of
        # sevenn._const, resolved the way sevenn.util.pretrained_name_to_path does for the models it ships.
        folders = {
            '7net-0': ('SevenNet_0__11Jul2024', 'checkpoint_sevennet_0.pth'),
            '7net-mf-0': ('SevenNet_MF_0', 'checkpoint_sevennet_mf_0.pth'),
            '7net-l3i5': ('SevenNet_l3i5', 'checkpoint_l3i5.pth'),
        }
        name = str(kwargs['model'])
        if name.lower() not in folders:
            path = pathlib.Path(name).expanduser()
            if path.is_file():
                return path
            raise FileNotFoundError(
                f'SevenNet model {name!r} is neither a bundled one ({", ".join(folders)}) nor a checkpoint file'
            )
        folder, filename = folders[name.lower()]
        path = _package_folder('sevenn') / 'pretrained_potentials' / folder / filename
        if not path.is_file():
            raise FileNotFoundError(f'the sevenn wheel has no {path}')
        return path

    def elements(self, kwargs):
        return _sevennet_checkpoint_facts(str(self.weights_file(kwargs)))[0]

    def modals(self, kwargs) -> tuple[str, ...]:
        """The fidelities of a multi-fidelity checkpoint (empty for a single-fidelity one)."""
        return _sevennet_checkpoint_facts(str(self.weights_file(kwargs)))[1]

    def make(self, kwargs, device):
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator(**kwargs, device=device)


@lru_cache(maxsize=8)
def _sevennet_checkpoint_facts(path: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The elements and the modals of a SevenNet checkpoint, read from its config (loaded once per file)."""
    import torch

    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    config = checkpoint['config']
    elements = frozenset(config.get('chemical_species') or config.get('_type_map', {}))
    modals = tuple(config.get('_modal_map') or ())
    return elements, modals


class EmtPotential(Potential):
    title = "ASE's effective-medium theory (Al, Cu, Ag, Au, Ni, Pd, Pt, H, C, N, O): tests and demonstrations"

    def elements(self, kwargs):
        from ase.calculators.emt import parameters

        return frozenset(parameters)

    def make(self, kwargs, device):
        from ase.calculators.emt import EMT

        return EMT(**kwargs)


class LennardJonesPotential(Potential):
    title = "ASE's Lennard-Jones, one parameter set for every element: tests and demonstrations"

    def make(self, kwargs, device):
        from ase.calculators.lj import LennardJones

        return LennardJones(**kwargs)


class FactoryPotential(Potential):
    """Any ASE calculator: ``factory`` names a function ``module:function`` that returns it from keyword arguments.

    The function gets the keyword arguments given, plus ``device`` when its signature takes it (a calculator
    without one runs on the CPU only). Every argument that names an existing file (a model file) is hashed
    into the identity, so a changed file is a different model.
    """

    title = 'your own ASE calculator: factory=module:function and its keyword arguments'
    bundled_weights = False

    def resolve_kwargs(self, kwargs):
        kwargs = dict(kwargs or {})
        factory = kwargs.get('factory')
        if not isinstance(factory, str) or ':' not in factory:
            raise ValueError(
                f'the factory potential needs factory="module:function" (a function returning an ASE '
                f'calculator), got {factory!r}'
            )
        return kwargs

    def _module(self, kwargs) -> str:
        return kwargs['factory'].split(':', 1)[0]

    def describe(self, kwargs=None):
        kwargs = self.resolve_kwargs(kwargs)
        files = {
            key: str(pathlib.Path(value).expanduser())
            for key, value in sorted(kwargs.items())
            if key != 'factory' and isinstance(value, str) and pathlib.Path(value).expanduser().is_file()
        }
        hashes = {key: sha256_of_file(path) for key, path in files.items()}
        canonical = json.dumps({'name': self.name, **kwargs, 'files': hashes}, sort_keys=True, default=str)
        package = _distribution_of(self._module(kwargs))
        return {
            'name': self.name,
            'factory': kwargs['factory'],
            'package': package,
            'package_version': package_version(package) if package else None,
            'model_version': None,
            'weights_file': ', '.join(pathlib.Path(path).name for path in files.values()) or None,
            'weights_files_sha256': hashes,
            'weights_sha256': hashlib.sha256(canonical.encode()).hexdigest(),
            'calculator_kwargs': kwargs,
        }

    def make(self, kwargs, device):
        module, _, attribute = kwargs['factory'].partition(':')
        function = getattr(importlib.import_module(module), attribute)
        arguments = {key: value for key, value in kwargs.items() if key != 'factory'}
        parameters = inspect.signature(function).parameters
        takes_device = 'device' in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        if takes_device:
            arguments['device'] = device
        elif device != 'cpu':
            raise DeviceUnavailable(f'{kwargs["factory"]} takes no `device` argument: it runs on the CPU only')
        return function(**arguments)

    def _torch(self):
        # Whether the calculator runs on torch is unknown: use torch when it is installed, to set its threads
        # and to tell whether CUDA is there.
        try:
            import torch
        except ImportError:
            return None
        return torch


def _distribution_of(module: str) -> str | None:
    """The installed distribution that provides the top-level package of ``module``, or None."""
    from importlib import metadata

    top = module.split('.', 1)[0]
    names = metadata.packages_distributions().get(top) or []
    return names[0] if names else None


#: The potentials this package ships, by entry-point name (``pyproject.toml`` registers each).
CHGNET = ChgnetPotential('chgnet')
SEVENNET_0 = SevennetPotential('sevenn', '7net-0', title='SevenNet-0 (MPtrj, 11 Jul 2024), weights in the sevenn wheel')
SEVENNET_MF_0 = SevennetPotential(
    'sevenn-mf', '7net-MF-0', modal='PBE', title='SevenNet-MF-0 multi-fidelity, PBE modal by default (modal=R2SCAN)'
)
EMT = EmtPotential('emt')
LENNARD_JONES = LennardJonesPotential('lj')
FACTORY = FactoryPotential('factory')

BUNDLED = {potential.name: potential for potential in (CHGNET, SEVENNET_0, SEVENNET_MF_0, EMT, LENNARD_JONES, FACTORY)}

#: The default potential of the ASE engine.
DEFAULT = 'chgnet'


def installed_potentials() -> dict[str, Potential]:
    """Every potential registered in ``superionic.potentials``, the bundled ones first (also without metadata)."""
    from importlib import metadata

    potentials = dict(BUNDLED)
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in potentials:
            potentials[entry_point.name] = entry_point.load()
    return potentials


def load_potential(name: str) -> Potential:
    """The potential registered as ``name``.

    :raises ValueError: naming the registered ones when there is no such potential.
    """
    if name in BUNDLED:
        return BUNDLED[name]
    potentials = installed_potentials()
    if name not in potentials:
        raise ValueError(
            f'unknown potential {name!r}: choose one of {", ".join(potentials)}, or `factory` with '
            'factory="module:function" for your own ASE calculator'
        )
    return potentials[name]
