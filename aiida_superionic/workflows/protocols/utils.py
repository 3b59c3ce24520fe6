"""Protocols: named sets of default inputs (``fast``, ``balanced``, ``stringent``) in YAML files.

A protocol file has ``default_inputs`` (shared), ``default_protocol`` and ``protocols``, each
protocol with a ``description`` and the inputs it changes; its keys mirror the workchain's ports. ``overrides``
change any input on top; an override key that is not an input of the protocol is an error, never silently ignored.
A file may also name ``presets``: override sets a caller asks for by name (``preset='test_size'``), never applied
otherwise, so that a builder without one is the production one whatever the environment says.
"""

from __future__ import annotations

import contextlib
import copy
import pathlib

import yaml

PROTOCOL_FOLDER = pathlib.Path(__file__).parent


class UnknownOverrideError(ValueError):
    """An override key that the protocol does not have, named by its dotted path from the caller's ``overrides``."""

    def __init__(self, dotted: str, known: list[str]):
        self.dotted, self.known = dotted, known
        super().__init__(f'unknown override `{dotted}`: known keys at this level are {known}')

    def under(self, namespace: str) -> UnknownOverrideError:
        """The same error seen from a parent workchain whose ``overrides`` pass ``namespace`` to this protocol."""
        return UnknownOverrideError(f'{namespace}.{self.dotted}', self.known)


@contextlib.contextmanager
def overrides_of(namespace: str):
    """Name unknown override keys of a child's protocol from the parent's overrides (``md.stepz``, not ``stepz``)."""
    try:
        yield
    except UnknownOverrideError as error:
        raise error.under(namespace) from None


def union(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` merged in recursively, new keys allowed (a protocol over the shared defaults)."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = union(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def at_most(inputs: dict, caps: dict) -> dict:
    """``inputs`` with each value of ``caps`` (nested as the inputs) as an upper bound: ``min(value, cap)``."""
    capped = copy.deepcopy(inputs)
    for key, cap in caps.items():
        if key not in capped:
            raise UnknownOverrideError(key, sorted(capped))
        capped[key] = at_most(capped[key], cap) if isinstance(cap, dict) else min(capped[key], cap)
    return capped


def recursive_merge(base: dict, changes: dict, path: str = '') -> dict:
    """Return ``base`` updated by ``changes`` recursively; a key of ``changes`` absent from ``base`` is refused.

    :raises ValueError: naming the full dotted path of an unknown key.
    """
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        dotted = f'{path}{key}'
        if key not in merged:
            raise UnknownOverrideError(dotted, sorted(merged))
        if isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = recursive_merge(merged[key], value, f'{dotted}.')
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class ProtocolMixin:
    """Gives a workchain its protocols from the YAML file of :meth:`get_protocol_filepath`.

    One mechanism for every workchain; the hooks say how a workchain's file differs: :meth:`_protocol_values` (the
    zero-temperature workchains put ``engines.yaml`` under their own file) and :meth:`_merge_overrides` (the
    ``SseWorkChain`` hands its children's namespaces to their own protocols unchecked).
    """

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """Return the path of the workchain's protocol file."""
        raise NotImplementedError(f'{cls.__name__} names no protocol file')

    @classmethod
    def _load_protocol_file(cls) -> dict:
        with open(cls.get_protocol_filepath(), encoding='utf-8') as handle:
            return yaml.safe_load(handle)

    @classmethod
    def get_default_protocol(cls) -> str:
        """Return the name of the default protocol."""
        return cls._load_protocol_file()['default_protocol']

    @classmethod
    def get_available_protocols(cls) -> dict[str, dict]:
        """Return the protocols by name, each with its ``description``."""
        return {
            name: {'description': values['description']}
            for name, values in cls._load_protocol_file()['protocols'].items()
        }

    @classmethod
    def get_available_presets(cls) -> dict[str, dict]:
        """Return the override presets by name, each with its ``description`` (empty when the file has none)."""
        presets = cls._load_protocol_file().get('presets') or {}
        return {name: {'description': values['description']} for name, values in presets.items()}

    @classmethod
    def get_preset_overrides(cls, preset: str) -> dict:
        """Return what ``preset`` changes: ``overrides`` merged on the protocol and the caller's overrides, and
        ``at_most``, upper bounds of inputs (nested as the inputs); ``label``, what the protocol's name gets;
        ``children_protocol``, the protocol the children of a workchain that has them run instead of its own (or None).

        :raises ValueError: for a name the protocol file does not have.
        """
        presets = cls._load_protocol_file().get('presets') or {}
        if preset not in presets:
            raise ValueError(f'unknown preset {preset!r}: choose one of {sorted(presets)} or None (the production one)')
        values = presets[preset]
        return {
            'label': values.get('label', preset),
            'overrides': copy.deepcopy(values.get('overrides') or {}),
            'at_most': copy.deepcopy(values.get('at_most') or {}),
            'children_protocol': values.get('children_protocol'),
        }

    @classmethod
    def _protocol_values(cls, protocol: str) -> dict:
        """The inputs of ``protocol``: the file's ``default_inputs`` with the protocol's changes on top.

        :raises ValueError: for an unknown protocol name.
        """
        return protocol_values(cls._load_protocol_file(), protocol)

    @classmethod
    def _merge_overrides(cls, inputs: dict, overrides: dict) -> dict:
        """``inputs`` with ``overrides`` on top; a key the inputs do not have is refused."""
        return recursive_merge(inputs, overrides)

    @classmethod
    def get_protocol_inputs(
        cls, protocol: str | None = None, overrides: dict | None = None, preset: str | None = None
    ) -> dict:
        """Return the inputs of a protocol with ``overrides`` merged on top, then those of ``preset`` if one is named.

        :raises ValueError: for an unknown protocol name, override key or preset.
        """
        if protocol is not None and not isinstance(protocol, str):
            raise ValueError(
                f'`protocol` must be the name of a protocol, one of {sorted(cls.get_available_protocols())}; '
                f'got {type(protocol).__name__} {protocol!r}'
            )
        inputs = cls._merge_overrides(cls._protocol_values(protocol or cls.get_default_protocol()), overrides or {})
        if preset is not None:
            changes = cls.get_preset_overrides(preset)
            inputs = at_most(cls._merge_overrides(inputs, changes['overrides']), changes['at_most'])
        return inputs


def protocol_values(data: dict, protocol: str) -> dict:
    """The inputs of ``protocol`` in the protocol file ``data``: ``default_inputs`` with its changes on top.

    :raises ValueError: for an unknown protocol name.
    """
    if protocol not in data['protocols']:
        raise ValueError(f'unknown protocol {protocol!r}: choose one of {sorted(data["protocols"])}')
    changes = {key: value for key, value in data['protocols'][protocol].items() if key != 'description'}
    return union(data['default_inputs'], changes)
