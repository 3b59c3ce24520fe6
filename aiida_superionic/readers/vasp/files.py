"""Opening VASP files: a path or an open binary stream, plain or compressed with gzip, bzip2 or xz."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import pathlib
from collections.abc import Iterator

from ..trajectory import TrajectoryFileError

_COMPRESSIONS = (
    (b'\x1f\x8b', lambda stream: gzip.GzipFile(fileobj=stream, mode='rb')),
    (b'BZh', bz2.BZ2File),
    (b'\xfd7zXZ\x00', lzma.LZMAFile),
)
_MAGIC_LENGTH = 6


# --------------------------------------------------------------------------------------------------- files


class _ReadAdapter(io.RawIOBase):
    """A raw stream over any object with ``read(size)``, that first gives back the bytes already taken from it."""

    def __init__(self, source, head: bytes):
        self._source = source
        self._head = head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = len(buffer)
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
        else:
            data = self._source.read(size) or b''
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def open_binary(source) -> Iterator[io.BufferedIOBase]:
    """Yield a binary file object reading ``source``, decompressed if it is gzip, bzip2 or xz.

    ``source`` is a path (``str`` or ``os.PathLike``) or an open binary file object; only its ``read`` is
    used (no ``seek``), so a stream from an AiiDA repository will do. The compression is recognised by the
    first bytes, not the name. A file object given is not closed; a path opened here is.
    """
    with contextlib.ExitStack() as stack:
        if isinstance(source, str | os.PathLike):
            try:
                stream = stack.enter_context(open(source, 'rb'))
            except OSError as exception:
                raise TrajectoryFileError(f'{source}: cannot be opened ({exception.strerror or exception})') from None
            head = stream.peek(_MAGIC_LENGTH)[:_MAGIC_LENGTH]
        else:
            head = source.read(_MAGIC_LENGTH)
            if isinstance(head, str):
                raise TrajectoryFileError(
                    f'{_source_name(source) or "the file"} was opened in text mode: open it in binary mode ("rb")'
                )
            stream = io.BufferedReader(_ReadAdapter(source, bytes(head)), buffer_size=2**20)
        for magic, decompressor in _COMPRESSIONS:
            if head.startswith(magic):
                stream = stack.enter_context(decompressor(stream))
                break
        yield stream


def _source_name(source) -> str | None:
    """The file name of a path or of a file object that knows its name, else None."""
    name = source if isinstance(source, str | os.PathLike) else getattr(source, 'name', None)
    if isinstance(name, str | os.PathLike):
        return pathlib.PurePath(name).name
    return None


def _plain_file_size(source) -> int | None:
    """The size in bytes of an uncompressed file given by its path (to size the output in advance), else None."""
    if not isinstance(source, str | os.PathLike):
        return None
    try:
        with open(source, 'rb') as stream:
            head = stream.read(_MAGIC_LENGTH)
        if any(head.startswith(magic) for magic, _ in _COMPRESSIONS):
            return None
        return os.path.getsize(source)
    except OSError:
        return None


def _read_text(source) -> str:
    with open_binary(source) as stream:
        data = stream.read()
    return data.decode('utf-8', errors='replace')
