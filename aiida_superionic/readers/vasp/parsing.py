"""What the VASP readers share: the patterns of numbers and words, rows of numbers parsed in bulk, the
growing store of frames, and the binary stream read in chunks."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

#: Text read at a time. Small enough that a chunk's temporaries (a few times the chunk) stay below the
#: positions of a long run, large enough that the per-chunk overhead is negligible: 4-16 MiB read equally
#: fast (see ``benchmarks/parsing.py``).
CHUNK_BYTES = 4 * 2**20


_WHITESPACE = b' \t\r\n\f\v'
_TRUE_WORDS = {'.TRUE.', 'T', '.T.', 'TRUE'}
_FALSE_WORDS = {'.FALSE.', 'F', '.F.', 'FALSE'}
_INT_PATTERN = re.compile(r'[-+]?\d+')
_FLOAT_PATTERN = re.compile(r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?')


# --------------------------------------------------------------------------------------------------- numbers


class _MalformedTextError(ValueError):
    """The fast parse of a block of numbers failed; the caller finds the offending line."""


def _parse_rows(text: bytes, rows: int, columns: int = 3) -> np.ndarray:
    """Parse ``rows`` lines of ``columns`` numbers each from ``text`` into a C-ordered float64 array.

    pandas' C tokenizer is the fastest exact parser at hand (its float conversion is correctly rounded,
    like ``float()``). With blank lines kept and no NA detection, every malformed line raises or changes
    the shape, so a success means exactly ``rows × columns`` numbers.
    """
    if rows == 0:
        return np.empty((0, columns))
    try:
        frame = pd.read_csv(
            io.BytesIO(text),
            sep=r'\s+',
            header=None,
            dtype=np.float64,
            engine='c',
            na_filter=False,
            skip_blank_lines=False,
        )
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exception:
        raise _MalformedTextError(str(exception)) from None
    if frame.shape != (rows, columns):
        raise _MalformedTextError(f'{frame.shape[0]} rows of {frame.shape[1]} numbers')
    return np.ascontiguousarray(frame.to_numpy(dtype=np.float64))


def _line_numbers(line: bytes | str, count: int = 3) -> list[float] | None:
    """The ``count`` numbers of one line, or None if it has not exactly ``count`` numbers."""
    tokens = line.split()
    if len(tokens) != count:
        return None
    try:
        return [float(token) for token in tokens]
    except ValueError:
        return None


def _show(line: bytes, limit: int = 80) -> str:
    text = line.decode('utf-8', errors='replace').strip()
    return repr(text if len(text) <= limit else text[:limit] + '...')


class _FrameStore:
    """Frames ``(k, atoms, 3)`` appended chunk by chunk into one array.

    With a capacity (from a plain file's size) the array is allocated once and filled in place;
    otherwise, or beyond it, the chunks are kept and joined at the end.
    """

    def __init__(self, atoms: int):
        self.atoms = atoms
        self.array: np.ndarray | None = None
        self.filled = 0
        self.pieces: list[np.ndarray] = []
        self.frames = 0

    def reserve_capacity(self, frames: int) -> None:
        if self.array is None and not self.pieces and frames > 0:
            self.array = np.empty((frames, self.atoms, 3))

    def slot(self, frames: int) -> np.ndarray:
        """An uninitialised ``(frames, atoms, 3)`` block to write the next frames into."""
        self.frames += frames
        if self.array is not None and not self.pieces and self.filled + frames <= len(self.array):
            view = self.array[self.filled : self.filled + frames]
            self.filled += frames
            return view
        piece = np.empty((frames, self.atoms, 3))
        self.pieces.append(piece)
        return piece

    def result(self) -> np.ndarray:
        if self.array is None:
            pieces = self.pieces
        elif not self.pieces:
            # A view of the preallocated array; copied only when the estimate was far too large.
            used = self.array[: self.filled]
            return used if self.filled >= 0.9 * len(self.array) else used.copy()
        else:
            pieces = [self.array[: self.filled], *self.pieces]
        if len(pieces) == 1:
            return pieces[0]
        if not pieces:
            return np.empty((0, self.atoms, 3))
        return np.concatenate(pieces)


def _formula_text(species: list[str], counts: list[int]) -> str:
    return ', '.join(f'{name} {count}' for name, count in zip(species, counts, strict=True))


def _element(name: str) -> str:
    """The element of a species name as VASP may write it (``Li_sv``, ``Li_sv/a1b2c3d4``, ``Li``)."""
    return name.split('/', maxsplit=1)[0].split('_', maxsplit=1)[0].strip()


def _per_atom(species: list[str], counts: list[int]) -> list[str]:
    return [name for name, count in zip(species, counts, strict=True) for _ in range(count)]


class _ChunkedStream:
    """A binary stream read in chunks into ``buffer``; ``bytes_before`` counts the bytes already dropped from it."""

    def __init__(self, stream, name: str, chunk_bytes: int, file_size: int | None):
        self.stream = stream
        self.name = name
        self.chunk_bytes = max(int(chunk_bytes), 64)
        self.file_size = file_size
        self.buffer = b''
        self.eof = False
        self.bytes_before = 0  # bytes of the file before self.buffer[0]

    def _fill(self) -> None:
        data = self.stream.read(self.chunk_bytes)
        if data:
            self.buffer += data
        else:
            self.eof = True
