"""Protocols: named sets of default inputs (``fast``, ``balanced``, ``stringent``) in YAML files.

A protocol file has ``default_inputs`` (shared), ``default_protocol`` and ``protocols``, each
protocol with a ``description`` and the inputs it changes. ``overrides`` change any input on top;
an override key that is not an input of the protocol is an error, never silently ignored.
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
    """Gives a workchain ``get_protocol_inputs`` from ``protocols/<_protocol_name>.yaml``."""

    _protocol_name: str

    @classmethod
    def _load_protocol_file(cls) -> dict:
        with open(PROTOCOL_FOLDER / f'{cls._protocol_name}.yaml', encoding='utf-8') as handle:
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
    def get_protocol_inputs(cls, protocol: str | None = None, overrides: dict | None = None) -> dict:
        """Return the inputs of a protocol with ``overrides`` merged on top.

        :raises ValueError: for an unknown protocol name or an unknown override key.
        """
        data = cls._load_protocol_file()
        protocol = protocol or data['default_protocol']
        if protocol not in data['protocols']:
            raise ValueError(f'unknown protocol {protocol!r}: choose one of {sorted(data["protocols"])}')
        changes = {k: v for k, v in data['protocols'][protocol].items() if k != 'description'}
        inputs = recursive_merge(data['default_inputs'], changes)
        return recursive_merge(inputs, overrides or {})
