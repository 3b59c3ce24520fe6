"""Streaming readers of VASP molecular-dynamics output: XDATCAR, vasprun.xml, and the MD tags of INCAR and OUTCAR.

Units: positions and cells in Å (lattice vectors as rows, XDATCAR's scale factor applied), the time step
(POTIM) in fs, times in ps, temperatures (TEBEG, TEEND) in K. Positions are Cartesian, each frame's
fractional coordinates times its cell, so wrapped into the cell as VASP wrote them.

Pure numerics (no AiiDA). Every reader takes a path or an already-open binary file (e.g. one from an AiiDA
repository), plain or compressed with gzip, bzip2 or xz, recognised by its first bytes.

How the trajectories are read. The file is read in chunks of about ``CHUNK_BYTES`` cut at frame
boundaries; the coordinates of all the frames of a chunk are parsed in one call of pandas' C parser, made
Cartesian with one matrix product and written into the output array. A plain file's size tells how many
frames to expect, so the output is allocated once and the peak memory is the positions plus the
temporaries of one chunk; for a compressed file or a stream the chunks' arrays are joined at the end (twice
the positions at the peak). Nothing holds the whole text, no DOM is built (vasprun.xml is cut with
``bytes.find``).

What the numbers mean (learnt from VASP's ``main.F`` and real files):

* XDATCAR: VASP writes ``Direct configuration=`` followed by the ionic step number NSTEP, every NBLOCK
  steps (NBLOCK, 2·NBLOCK, ...). Programs that rewrite XDATCARs (pymatgen's ``Xdatcar.write_file``,
  concatenation scripts) renumber the frames 1, 2, 3, ...: the kinisi example (2 fs × NBLOCK 50) is such a
  file. :func:`read_xdatcar` takes the numbers as ionic steps when they step by NBLOCK, and as frame counts
  (step = number × NBLOCK, with a warning) when they step by 1 with NBLOCK > 1. The 7-line header repeats
  before every configuration when the cell varies (ISIF ≥ 3).
* vasprun.xml has one ``<calculation>`` per ionic step whatever NBLOCK (only ML_OUTBLOCK thins it, from
  VASP 6.4.3 on), holding the structure at which that step's forces were computed: step ``k`` of the file
  is ionic step ``k``.

In both, ``times_ps = steps × POTIM / 1000``.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import io
import itertools
import lzma
import os
import pathlib
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd

from .trajectory import ParsedTrajectory, TrajectoryFileError

#: Text read at a time. Small enough that a chunk's temporaries (a few times the chunk) stay below the
#: positions of a long run, large enough that the per-chunk overhead is negligible: 4-16 MiB read equally
#: fast (see ``benchmarks/parsing.py``).
CHUNK_BYTES = 4 * 2**20

#: The most of an OUTCAR that :func:`read_outcar_parameters` reads when it finds no first ionic step.
OUTCAR_HEADER_MAX_BYTES = 32 * 2**20

#: A header that grows beyond this without a ``Direct configuration=`` line is not an XDATCAR's.
XDATCAR_HEADER_MAX_BYTES = 2**20

_COMPRESSIONS = (
    (b'\x1f\x8b', lambda stream: gzip.GzipFile(fileobj=stream, mode='rb')),
    (b'BZh', bz2.BZ2File),
    (b'\xfd7zXZ\x00', lzma.LZMAFile),
)
_MAGIC_LENGTH = 6
_XDATCAR_MARKER = b'Direct configuration='
_WHITESPACE = b' \t\r\n\f\v'
_TRUE_WORDS = {'.TRUE.', 'T', '.T.', 'TRUE'}
_FALSE_WORDS = {'.FALSE.', 'F', '.F.', 'FALSE'}
_INT_PATTERN = re.compile(r'[-+]?\d+')
_FLOAT_PATTERN = re.compile(r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?')

#: OUTCAR tags read by :func:`read_outcar_parameters`, and their types.
OUTCAR_TAGS = {
    'POTIM': float,
    'NBLOCK': int,
    'TEBEG': float,
    'TEEND': float,
    'MDALGO': int,
    'IBRION': int,
    'ISIF': int,
    'NSW': int,
    'SMASS': float,
}
_OUTCAR_TAG_PATTERN = re.compile(
    rb'(?<![A-Za-z0-9_])(' + b'|'.join(tag.encode() for tag in OUTCAR_TAGS) + rb')\s*=\s*'
    rb'([-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?)'
)
# The first electronic iteration of the first ionic step: everything after it is per-step output.
_OUTCAR_FIRST_STEP_PATTERN = re.compile(rb'-{5,}\s*Iteration\s+\d+\s*\(')

#: vasprun.xml tags recorded in ``parameters`` (lower-cased, as the run's INCAR tags are).
VASPRUN_TAGS = ('POTIM', 'NBLOCK', 'TEBEG', 'TEEND', 'IBRION', 'ISIF', 'MDALGO', 'NSW', 'SMASS')
_XML_ITEM_PATTERN = re.compile(rb'<i\b([^>]*)>([^<]*)</i>')
_XML_NAME_PATTERN = re.compile(rb'\bname="([^"]*)"')
_XML_TYPE_PATTERN = re.compile(rb'\btype="([^"]*)"')
_XML_ATOM_PATTERN = re.compile(rb'<rc>\s*<c>([^<]*)</c>')


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


# --------------------------------------------------------------------------------------------------- INCAR


def _convert_tag_value(value: str):
    """An INCAR value as int, float, bool or (anything else, e.g. several numbers) the stripped string."""
    value = value.strip()
    if _INT_PATTERN.fullmatch(value):
        return int(value)
    if _FLOAT_PATTERN.fullmatch(value):
        return float(value.replace('D', 'E').replace('d', 'e'))
    word = value.upper()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return value


def read_incar(source) -> dict:
    """Return the tags of an INCAR: ``{TAG: value}``, tags upper-cased.

    Values are converted to int, float (Fortran ``1D-5`` too) or bool (``.TRUE.``, ``T``, ``.FALSE.``,
    ``F``); anything else (``MAGMOM = 64*1.0``, ``LANGEVIN_GAMMA = 10 10``) stays a string. ``!`` and ``#``
    start comments; ``;`` separates several ``TAG = value`` on one line. A tag given twice keeps the last.
    """
    tags = {}
    for line in _read_text(source).splitlines():
        statement_line = re.split(r'[!#]', line, maxsplit=1)[0]
        for statement in statement_line.split(';'):
            tag, equals, value = statement.partition('=')
            tag = tag.strip().upper()
            if equals and tag:
                tags[tag] = _convert_tag_value(value)
    return tags


# --------------------------------------------------------------------------------------------------- OUTCAR


def read_outcar_parameters(source, max_bytes: int = OUTCAR_HEADER_MAX_BYTES) -> dict:
    """Return the MD tags in an OUTCAR's header: POTIM (fs), NBLOCK, TEBEG, TEEND (K), MDALGO, IBRION, ISIF, NSW, SMASS.

    Only the header is read: reading stops at the first electronic iteration of the first ionic step
    (``---- Iteration 1(   1) ----``), or after ``max_bytes`` (an OUTCAR can be gigabytes). Tags absent
    from the header are absent from the result. Where VASP prints a tag twice (VASP 6 echoes the INCAR
    first), the later value, from the parameter section, wins: it is the one VASP used (VASP resets
    NBLOCK when NBLOCK × KBLOCK > NSW, for instance).
    """
    found = {}
    read = 0
    with open_binary(source) as stream:
        for line in stream:
            read += len(line)
            if b'Iteration' in line and _OUTCAR_FIRST_STEP_PATTERN.search(line):
                break
            if b'=' in line:
                for match in _OUTCAR_TAG_PATTERN.finditer(line):
                    tag = match.group(1).decode()
                    number = float(match.group(2).replace(b'D', b'E').replace(b'd', b'e'))
                    found[tag] = int(number) if OUTCAR_TAGS[tag] is int else number
            if read >= max_bytes:
                break
    return found


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


# --------------------------------------------------------------------------------------------------- XDATCAR


@dataclasses.dataclass
class _XdatcarHeader:
    title: str
    cell: np.ndarray
    species: list[str] | None
    counts: list[int]
    lines: int


def _parse_xdatcar_header(lines: list[bytes], name: str, first_line: int) -> _XdatcarHeader:
    """Parse the POSCAR-like header (comment, scale, 3 lattice vectors, [species], counts) of a frame."""
    expected = (
        'the XDATCAR header (comment, scale factor, three lattice vectors, species names, numbers of atoms) before '
        "the 'Direct configuration=' line"
    )
    if len(lines) < 6:
        raise TrajectoryFileError(f'{name}: expected {expected}, found {len(lines)} line(s) from line {first_line}')
    scale_tokens = lines[1].split()
    try:
        scale = [float(token) for token in scale_tokens]
    except ValueError:
        scale = []
    if len(scale) not in (1, 3):
        raise TrajectoryFileError(
            f'{name}, line {first_line + 1}: expected the scale factor (one number, or three), found {_show(lines[1])}'
        )
    lattice = []
    for offset in (2, 3, 4):
        row = _line_numbers(lines[offset])
        if row is None:
            raise TrajectoryFileError(
                f'{name}, line {first_line + offset}: expected a lattice vector (three numbers), '
                f'found {_show(lines[offset])}'
            )
        lattice.append(row)
    lattice = np.array(lattice)
    species_tokens = lines[5].decode('utf-8', errors='replace').split()
    if species_tokens and all(_INT_PATTERN.fullmatch(token) for token in species_tokens):
        species, counts_line, header_lines = None, lines[5], 6
    else:
        if len(lines) < 7:
            raise TrajectoryFileError(f'{name}: expected {expected}, found {len(lines)} lines from line {first_line}')
        species, counts_line, header_lines = species_tokens, lines[6], 7
    count_tokens = counts_line.decode('utf-8', errors='replace').split()
    if not count_tokens or not all(_INT_PATTERN.fullmatch(token) for token in count_tokens):
        raise TrajectoryFileError(
            f'{name}, line {first_line + header_lines - 1}: expected the numbers of atoms of each species, '
            f'found {_show(counts_line)}'
        )
    counts = [int(token) for token in count_tokens]
    if species is not None and len(species) != len(counts):
        raise TrajectoryFileError(
            f'{name}, lines {first_line + 5}-{first_line + 6}: the species line has {len(species)} names '
            f'({" ".join(species)}) but the counts line has {len(counts)} numbers ({" ".join(count_tokens)})'
        )
    if len(scale) == 3:
        if min(scale) <= 0:
            raise TrajectoryFileError(f'{name}, line {first_line + 1}: three scale factors must be positive')
        cell = lattice * np.array(scale)[None, :]
    elif scale[0] < 0:
        # VASP reads a negative scale factor as the cell volume (Å^3).
        volume = abs(np.linalg.det(lattice))
        if volume == 0:
            raise TrajectoryFileError(f'{name}, line {first_line + 2}: the lattice vectors are linearly dependent')
        cell = lattice * (-scale[0] / volume) ** (1.0 / 3.0)
    elif scale[0] == 0:
        raise TrajectoryFileError(f'{name}, line {first_line + 1}: the scale factor is zero')
    else:
        cell = lattice * scale[0]
    title = lines[0].decode('utf-8', errors='replace').strip()
    return _XdatcarHeader(title=title, cell=cell, species=species, counts=counts, lines=header_lines)


@dataclasses.dataclass
class _Record:
    """One configuration: its coordinate lines (and, in a variable-cell file, the next frame's header)."""

    start: int  # offset of the first line after the 'Direct configuration=' line
    end: int  # offset of the next 'Direct configuration=' line, or of the end of the text
    number: int | None  # the configuration number (None when unreadable, e.g. VASP's ******)
    final: bool = False


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


class _XdatcarReader(_ChunkedStream):
    """The state of one streaming read of an XDATCAR."""

    def __init__(self, stream, name: str, symbols, chunk_bytes: int, file_size: int | None):
        super().__init__(stream, name, chunk_bytes, file_size)
        self.lines_before = 0  # lines of the file before self.buffer[0]
        self.given_symbols = symbols
        self.warnings: list[str] = []
        self.numbers: list[int | None] = []
        self.cells: list[np.ndarray] = []
        self.header_between: int | None = None  # lines of header between two configurations: 0 or 6/7
        self.incomplete_last: tuple[int | None, int] | None = None  # (number, lines) of a last frame cut short

    # ---- input

    def _discard(self, offset: int) -> None:
        """Drop ``buffer[:offset]`` (already parsed), keeping count of the lines and bytes dropped."""
        self.lines_before += self.buffer.count(b'\n', 0, offset)
        self.bytes_before += offset
        self.buffer = self.buffer[offset:]

    def _line_number(self, offset: int) -> int:
        return self.lines_before + self.buffer.count(b'\n', 0, offset) + 1

    # ---- header

    def read_header(self) -> int:
        """Parse the header; return the offset of the first 'Direct configuration=' line."""
        search = 0
        while True:
            hit = self.buffer.find(_XDATCAR_MARKER, search)
            if hit >= 0:
                line_start = self.buffer.rfind(b'\n', 0, hit) + 1
                if self.buffer[line_start:hit].strip(_WHITESPACE) == b'':
                    break
                search = hit + 1
                continue
            search = max(0, len(self.buffer) - len(_XDATCAR_MARKER))
            if self.eof or len(self.buffer) > XDATCAR_HEADER_MAX_BYTES:
                self._no_configuration()
            self._fill()
        lines = self.buffer[:line_start].split(b'\n')[:-1]
        # Some VASP versions write the file header and then, the cell varying, the step's header again.
        halves = (lines[: len(lines) // 2], lines[len(lines) // 2 :]) if len(lines) in (12, 14) else None
        if halves and halves[0] and halves[0][0].strip() == halves[1][0].strip():
            _parse_xdatcar_header(halves[0], self.name, 1)
            header = _parse_xdatcar_header(halves[1], self.name, len(halves[0]) + 1)
        else:
            header = _parse_xdatcar_header(lines, self.name, 1)
            if header.lines != len(lines):
                raise TrajectoryFileError(
                    f'{self.name}: {len(lines)} lines before the first {_XDATCAR_MARKER.decode()!r} line; an XDATCAR '
                    f'header has {header.lines} (comment, scale factor, three lattice vectors, '
                    f'{"species names, " if header.species else ""}numbers of atoms)'
                )
        self.header = header
        self.carried_cell = header.cell
        self.species = self._species(header)
        self.atoms = sum(header.counts)
        if self.atoms == 0:
            raise TrajectoryFileError(f'{self.name}: the header counts no atoms')
        return line_start

    def _no_configuration(self):
        text = self.buffer[:XDATCAR_HEADER_MAX_BYTES]
        if b'Konfig' in text or (len(text.split(b'\n')) > 4 and text.split(b'\n')[3].strip() == b'CAR'):
            raise TrajectoryFileError(
                f"{self.name}: an XDATCAR of VASP 4 / early VASP 5 ('Konfig=' lines, no lattice vectors), which is not "
                'supported: read the run from its vasprun.xml, or write the XDATCAR again with VASP 5.4 or later'
            )
        raise TrajectoryFileError(
            f'{self.name}: no {_XDATCAR_MARKER.decode()!r} line (is it an XDATCAR?); an XDATCAR must hold at least '
            'one complete configuration'
        )

    def _species(self, header: _XdatcarHeader) -> list[str]:
        given = self.given_symbols
        if given is not None:
            given = [str(symbol) for symbol in given]
            if len(given) != len(header.counts):
                raise TrajectoryFileError(
                    f'{self.name}: {len(given)} symbols given ({" ".join(given)}) but the header has '
                    f'{len(header.counts)} species (counts {" ".join(map(str, header.counts))}): give one symbol per '
                    'species, in the order of the counts'
                )
            if header.species is not None and [_element(name) for name in header.species] != given:
                self.warnings.append(
                    f'the species of the file ({" ".join(header.species)}) are replaced by the symbols given '
                    f'({" ".join(given)})'
                )
            return given
        if header.species is None:
            raise TrajectoryFileError(
                f'{self.name} has no species line (the VASP 4 layout): give the symbols, one per species in the order '
                f'of the counts ({" ".join(map(str, header.counts))}), e.g. symbols=["Li", "P", "S", "Cl"]'
            )
        return [_element(name) for name in header.species]

    # ---- configurations

    def read_frames(self, first_marker: int) -> np.ndarray:
        self._discard(first_marker)
        self.store = _FrameStore(self.atoms)
        markers: list[tuple[int, int, int | None]] = []  # (line start, content start, number)
        search = 0
        while True:
            search = self._scan_markers(markers, search)
            records = [
                _Record(start, next_line_start, number)
                for (_, start, number), (next_line_start, _, _) in itertools.pairwise(markers)
            ]
            if self.eof:
                self._parse([*records, _Record(markers[-1][1], len(self.buffer), markers[-1][2], final=True)])
                break
            if records:
                self._parse(records)
                keep_from = markers[-1][0]
                search -= keep_from
                markers = [(0, markers[-1][1] - keep_from, markers[-1][2])]
                self._discard(keep_from)
            self._fill()
        return self.store.result()

    def _scan_markers(self, markers: list, search: int) -> int:
        """Append the complete 'Direct configuration=' lines from ``search`` on; return where to search next."""
        buffer = self.buffer
        while True:
            hit = buffer.find(_XDATCAR_MARKER, search)
            if hit < 0:
                return max(search, len(buffer) - len(_XDATCAR_MARKER))
            line_start = buffer.rfind(b'\n', 0, hit) + 1
            line_end = buffer.find(b'\n', hit)
            if line_end < 0 and not self.eof:
                return line_start  # the line is not complete yet
            if line_end < 0:
                line_end = len(buffer)
            if buffer[line_start:hit].strip(_WHITESPACE) == b'':
                number_text = buffer[hit + len(_XDATCAR_MARKER) : line_end].strip(_WHITESPACE)
                number = int(number_text) if number_text.isdigit() else None
                if not markers or markers[-1][0] != line_start:
                    markers.append((line_start, line_end + 1, number))
            search = line_end + 1

    def _count_lines(self, record: _Record) -> int:
        lines = self.buffer.count(b'\n', record.start, record.end)
        if record.end > record.start and self.buffer[record.end - 1 : record.end] != b'\n':
            lines += 1
        return lines

    def _final_record(self, record: _Record) -> _Record | None:
        """The last configuration of the file, without trailing blank lines; None if it is incomplete."""
        buffer = self.buffer
        end = record.end
        while end > record.start and buffer[end - 1] in _WHITESPACE:
            end -= 1
        record = _Record(record.start, end, record.number, final=True)
        lines = self._count_lines(record) if end > record.start else 0
        header_lines = self.header_between or 0
        complete = lines >= self.atoms
        if lines == self.atoms and b'\n' not in buffer[end:]:
            # No newline after the last line: it may have been cut in the middle of a number.
            last_start = max(record.start, buffer.rfind(b'\n', record.start, end) + 1)
            previous_start = max(record.start, buffer.rfind(b'\n', record.start, max(record.start, last_start - 1)) + 1)
            last, previous = buffer[last_start:end], buffer[previous_start : max(previous_start, last_start - 1)]
            cut = _line_numbers(last) is None or (self.atoms > 1 and len(last.strip()) < len(previous.strip()) - 1)
            complete = not cut
        if not complete:
            self.incomplete_last = (record.number, lines)
            return None
        if lines > self.atoms and header_lines and lines - self.atoms < header_lines + 1:
            self.warnings.append(
                f'{self.name} ends in the header of the frame after configuration {record.number} (the run was '
                'probably stopped while writing it): that frame is missing'
            )
            cut_at = record.start
            for _ in range(self.atoms):
                cut_at = buffer.find(b'\n', cut_at) + 1
            record = _Record(record.start, cut_at, record.number, final=True)
        return record

    def _parse(self, records: list[_Record]) -> None:
        """Parse complete records (and the last one at the end of the file) into the output."""
        if records[-1].final:
            final = self._final_record(records[-1])
            records = records[:-1] if final is None else [*records[:-1], final]
        if not records:
            return
        if self.header_between is None:
            first = records[0]
            lines = self._count_lines(first)
            if first.final or lines == self.atoms:
                self.header_between = 0
            elif lines == self.atoms + self.header.lines:
                self.header_between = self.header.lines
            else:
                self._raise_malformed(records)
            if self.file_size is not None and not first.final:
                frame_bytes = first.end - first.start + len(_XDATCAR_MARKER) + 8
                self.store.reserve_capacity(int((self.file_size - self.bytes_before) / frame_bytes * 1.02) + 2)
        header_lines = self.header_between
        memory = memoryview(self.buffer)
        pieces = []
        next_cells = []
        for record in records:
            expected = self.atoms + (0 if record.final else header_lines)
            if self._count_lines(record) != expected:
                self._raise_malformed(records)
            if header_lines and not record.final:
                coordinates_end = record.end - 1
                for _ in range(header_lines):
                    coordinates_end = self.buffer.rfind(b'\n', record.start, coordinates_end)
                pieces.append(memory[record.start : coordinates_end + 1])
                next_cells.append(self._frame_header(coordinates_end + 1, record.end, record))
            else:
                pieces.append(memory[record.start : record.end])
                if record.final and self.buffer[record.end - 1 : record.end] != b'\n':
                    pieces.append(b'\n')
        text = b''.join(pieces)
        del pieces, memory
        try:
            fractional = _parse_rows(text, len(records) * self.atoms)
        except _MalformedTextError:
            self._raise_malformed(records)
        del text
        frames = len(records)
        if header_lines:
            cells = self._frame_cells(next_cells, frames)
            np.matmul(fractional.reshape(frames, self.atoms, 3), cells, out=self.store.slot(frames))
            self.cells.extend(cells)
        else:
            np.matmul(fractional.reshape(frames, self.atoms, 3), self.header.cell, out=self.store.slot(frames))
        self.numbers.extend(record.number for record in records)

    def _frame_cells(self, next_cells: list[np.ndarray], frames: int) -> np.ndarray:
        """The cells of ``frames`` frames of a variable-cell file, given the headers that follow each of them.

        A frame's cell is in the header before its configuration line: the first frame of a chunk takes the
        header carried over from the previous chunk (or the file's), the others those of their records.
        """
        cells = [self.carried_cell, *next_cells[: frames - 1]]
        if len(next_cells) == frames:
            self.carried_cell = next_cells[-1]
        return np.array(cells)

    def _frame_header(self, start: int, end: int, record: _Record) -> np.ndarray:
        """The cell of the header between ``start`` and ``end`` (checked against the file's header)."""
        lines = self.buffer[start:end].split(b'\n')[: self.header.lines]
        first_line = self._line_number(start)
        header = _parse_xdatcar_header(lines, self.name, first_line)
        if header.counts != self.header.counts or header.lines != self.header.lines:
            raise TrajectoryFileError(
                f'{self.name}, line {first_line}: the header after configuration {record.number} counts '
                f'{" ".join(map(str, header.counts))} atoms per species, the first header '
                f'{" ".join(map(str, self.header.counts))}: the atoms of an MD run cannot change'
            )
        return header.cell

    def _raise_malformed(self, records: list[_Record]):
        """Find the first offending line of ``records`` and raise a TrajectoryFileError that names it."""
        formula = _formula_text(self.species, self.header.counts)
        for record in records:
            lines = self.buffer[record.start : record.end].split(b'\n')
            if lines and lines[-1] == b'':
                lines.pop()
            good = 0
            while good < len(lines) and _line_numbers(lines[good]) is not None:
                good += 1
            first_line = self._line_number(record.start)
            after = len(lines) - good
            # What may follow the coordinates: nothing, or the next frame's header when the cell varies.
            if record.final or self.header_between == 0:
                allowed_after = {0}
            elif self.header_between:
                allowed_after = {self.header_between}
            else:
                allowed_after = {0, self.header.lines}
            if good > self.atoms or (good < self.atoms and after in allowed_after):
                raise TrajectoryFileError(
                    f'{self.name}: the header says {self.atoms} atoms ({formula}) but configuration {record.number} '
                    f'(line {first_line - 1}) has {good} coordinate lines'
                )
            if good < self.atoms:
                raise TrajectoryFileError(
                    f'{self.name}, line {first_line + good} (configuration {record.number}, atom {good + 1} of '
                    f'{self.atoms}): expected three fractional coordinates, found {_show(lines[good])}'
                )
            if after not in allowed_after:
                if allowed_after == {0}:
                    raise TrajectoryFileError(
                        f'{self.name}, line {first_line + good}: unexpected line after the {self.atoms} coordinates '
                        f'of configuration {record.number}: {_show(lines[good])} (expected '
                        f'{_XDATCAR_MARKER.decode()!r})'
                    )
                raise TrajectoryFileError(
                    f'{self.name}, line {first_line + good}: {after} lines between configuration {record.number} '
                    f'and the next, where the header repeated before every configuration has {self.header.lines}'
                )
        raise TrajectoryFileError(f'{self.name}: malformed configurations after line {self._line_number(0)}')


def _xdatcar_steps(numbers: list[int | None], nblock: int, name: str, warnings: list[str]) -> np.ndarray:
    """The ionic step of each frame from the configuration numbers (see the module docstring)."""
    steps = np.array([-1 if number is None else number for number in numbers], dtype=np.int64)
    if len(steps) == 0:
        return steps
    unreadable = np.flatnonzero(steps < 0)
    if unreadable.size:
        known = np.diff(steps[steps >= 0])
        stride = int(np.median(known[known > 0])) if np.any(known > 0) else nblock
        for index in unreadable:
            steps[index] = steps[index - 1] + stride if index > 0 else stride
        warnings.append(
            f'{unreadable.size} configuration numbers of {name} are unreadable (VASP prints ****** from step 1000000 '
            f'on): they are continued from the previous frame in steps of {stride}'
        )
    restarts = np.flatnonzero(np.diff(steps) <= 0) + 1
    if restarts.size:
        # A restarted run counts from its own start again: continue from the last step before it.
        offsets = np.zeros_like(steps)
        for index in restarts:
            offsets[index:] += steps[index - 1]
        steps = steps + offsets
        warnings.append(
            f'the configuration numbers of {name} start again {restarts.size} time(s) (at frame(s) '
            f'{", ".join(str(index + 1) for index in restarts[:5])}{", ..." if restarts.size > 5 else ""}): the file '
            'joins restarted runs, whose steps are taken to continue from the previous run'
        )
    if len(steps) == 1:
        return steps * nblock if steps[0] == 1 else steps
    strides = np.unique(np.diff(steps))
    if nblock > 1 and strides.tolist() == [1]:
        warnings.append(
            f'the configuration numbers of {name} count frames (1, 2, 3, ...), not ionic steps as VASP writes them '
            f'(NBLOCK, 2×NBLOCK, ...): the file was renumbered by another program (pymatgen does); with NBLOCK = '
            f'{nblock}, frame k is taken as ionic step k×{nblock}'
        )
        return steps * nblock
    if len(strides) == 1 and strides[0] != nblock:
        warnings.append(
            f'the configuration numbers of {name} step by {strides[0]} ionic steps but NBLOCK = {nblock}: the numbers '
            'of the file are used'
        )
    elif len(strides) > 1:
        warnings.append(
            f'the frames of {name} are not equally spaced: the configuration numbers step by '
            f'{", ".join(map(str, strides[:6]))}{", ..." if len(strides) > 6 else ""} ionic steps'
        )
    return steps


def read_xdatcar(
    source,
    timestep_fs: float,
    nblock: int = 1,
    symbols: list[str] | None = None,
    *,
    chunk_bytes: int | None = None,
) -> ParsedTrajectory:
    """Read a VASP 5/6 XDATCAR (fixed or variable cell) into a :class:`ParsedTrajectory`.

    :param source: a path, or an open binary file; plain, gzip, bzip2 or xz.
    :param timestep_fs: POTIM, the MD time step (fs).
    :param nblock: NBLOCK, the ionic steps between two frames; checked against the configuration numbers
        (a warning when they disagree; see the module docstring for what the numbers mean).
    :param symbols: one element per species, in the order of the counts: required when the file has no
        species line (the VASP 4 layout), otherwise it replaces the file's species (with a warning if they differ).
    :param chunk_bytes: text read at a time (default :data:`CHUNK_BYTES`).
    :return: Cartesian positions (Å), cells (Å, rows; from the header of each frame if it repeats),
        ``steps`` (ionic steps), ``times_ps = steps × timestep_fs / 1000``, ``parameters`` with
        ``timestep_fs``, ``nblock`` and ``frame_interval_fs``. A last configuration cut short (a job
        killed while writing) is dropped with a warning.
    :raises TrajectoryFileError: naming the file, the line or configuration and what was expected, for a
        malformed header or line, a configuration with the wrong number of coordinate lines, or no complete frame.
    """
    timestep_fs = float(timestep_fs)
    if not timestep_fs > 0:
        raise TrajectoryFileError(f'the time step must be positive, not {timestep_fs} fs')
    nblock = int(nblock)
    if nblock < 1:
        raise TrajectoryFileError(f'NBLOCK must be a positive integer, not {nblock}')
    name = _source_name(source) or 'the XDATCAR'
    with open_binary(source) as stream:
        reader = _XdatcarReader(stream, name, symbols, chunk_bytes or CHUNK_BYTES, _plain_file_size(source))
        first_marker = reader.read_header()
        positions = reader.read_frames(first_marker)
    frames = positions.shape[0]
    if frames == 0:
        raise TrajectoryFileError(f'{name} has no complete configuration')
    warnings = reader.warnings
    if reader.incomplete_last is not None:
        number, lines = reader.incomplete_last
        warnings.append(
            f'{name} ends in the middle of configuration {number} ({lines} of its {reader.atoms} coordinate lines, '
            f'the last perhaps cut short; the run was probably stopped while writing): the {frames} complete '
            f'frame{"s" if frames != 1 else ""} before it are kept, the last, incomplete one is dropped'
        )
    steps = _xdatcar_steps(reader.numbers, nblock, name, warnings)
    cells = np.array(reader.cells) if reader.header_between else np.repeat(reader.header.cell[None], frames, axis=0)
    stride = int(np.median(np.diff(steps))) if frames > 1 else nblock
    return ParsedTrajectory(
        symbols=_per_atom(reader.species, reader.header.counts),
        positions=positions,
        cells=cells,
        times_ps=steps * (timestep_fs / 1000.0),
        steps=steps,
        parameters={'timestep_fs': timestep_fs, 'nblock': nblock, 'frame_interval_fs': stride * timestep_fs},
        warnings=warnings,
        sources=[name] if _source_name(source) else [],
    )


# --------------------------------------------------------------------------------------------------- vasprun.xml


def _xml_value(attributes: bytes, text: bytes):
    """An ``<i>`` item of vasprun.xml as int, bool, str or float (its ``type``); None if VASP wrote ****."""
    kind = _XML_TYPE_PATTERN.search(attributes)
    kind = kind.group(1) if kind else b'float'
    value = text.decode('utf-8', errors='replace').strip()
    try:
        if kind == b'int':
            return int(value)
        if kind == b'logical':
            return value.upper() in _TRUE_WORDS
        if kind == b'string':
            return value
        return float(value)
    except ValueError:
        return None


def _xml_items(section: bytes) -> dict:
    items = {}
    for match in _XML_ITEM_PATTERN.finditer(section):
        name = _XML_NAME_PATTERN.search(match.group(1))
        if name:
            value = _xml_value(match.group(1), match.group(2))
            if value is not None:
                items[name.group(1).decode()] = value
    return items


def _section(text: bytes, tag: bytes) -> bytes:
    start = text.find(b'<' + tag + b'>')
    if start < 0:
        return b''
    end = text.find(b'</' + tag + b'>', start)
    return text[start : end if end >= 0 else len(text)]


def _vasp_version(header: bytes) -> tuple[int, ...]:
    match = re.search(rb'<i name="version"[^>]*>\s*([\d.]+)', header)
    if not match:
        return ()
    return tuple(int(part) for part in match.group(1).decode().strip('.').split('.') if part.isdigit())


def _vasprun_header(header: bytes, name: str) -> tuple[list[str], dict, tuple[int, ...]]:
    """Species per atom, the run's tags (``<parameters>`` over ``<incar>``) and VASP's version."""
    atominfo = _section(header, b'atominfo')
    atoms_array = re.search(rb'<array name="atoms"\s*>(.*?)</array>', atominfo, flags=re.DOTALL)
    if not atoms_array:
        raise TrajectoryFileError(f'{name}: no <atominfo> with the atoms before the first <calculation>')
    symbols = [_element(match.group(1).decode()) for match in _XML_ATOM_PATTERN.finditer(atoms_array.group(1))]
    declared = re.search(rb'<atoms>\s*(\d+)\s*</atoms>', atominfo)
    if not symbols or (declared and int(declared.group(1)) != len(symbols)):
        raise TrajectoryFileError(
            f'{name}: <atominfo> declares {declared.group(1).decode() if declared else "?"} atoms but lists '
            f'{len(symbols)}'
        )
    tags = {**_xml_items(_section(header, b'incar')), **_xml_items(_section(header, b'parameters'))}
    return symbols, tags, _vasp_version(header)


def _calculation_arrays(buffer: bytes, start: int, end: int, index: int, name: str) -> tuple[slice, slice]:
    """The text spans of the basis and the positions of the structure of one ``<calculation>``."""
    spans = []
    structure = buffer.find(b'<structure', start, end)
    search = structure
    for array in (b'name="basis"', b'name="positions"'):
        found = buffer.find(array, search, end) if structure >= 0 else -1
        opened = buffer.find(b'>', found, end) + 1 if found >= 0 else 0
        closed = buffer.find(b'</varray>', opened, end) if opened > 0 else -1
        if closed < 0:
            raise TrajectoryFileError(
                f'{name}: <calculation> {index} (ionic step {index}) has no <structure> with a {array.decode()} array'
            )
        # Whole lines only: from the line after the opening tag to the line of the closing one.
        first_row = buffer.find(b'\n', opened, closed) + 1 or opened
        spans.append(slice(first_row, buffer.rfind(b'\n', first_row, closed) + 1 or first_row))
        search = closed
    return spans[0], spans[1]


# Blanks out the characters of the <v> and </v> tags (none occurs in a number) in one pass over the text.
_VECTOR_TAG_BLANKS = bytes.maketrans(b'<>/v', b'    ')


def _strip_vector_tags(text: bytes) -> bytes:
    return text.translate(_VECTOR_TAG_BLANKS)


class _VasprunReader(_ChunkedStream):
    """The state of one streaming read of a vasprun.xml."""

    def __init__(self, stream, name: str, chunk_bytes: int, file_size: int | None):
        super().__init__(stream, name, chunk_bytes, file_size)
        self.calculations = 0
        self.cells: list[np.ndarray] = []

    def read_header(self) -> None:
        while len(self.buffer) < 4096 and not self.eof:
            self._fill()
        if b'<modeling' not in self.buffer[:4096]:
            raise TrajectoryFileError(f'{self.name}: not a vasprun.xml (no <modeling> element at its start)')
        search = 0
        while (first := self.buffer.find(b'<calculation>', search)) < 0 and not self.eof:
            search = max(0, len(self.buffer) - len(b'<calculation>'))
            self._fill()
        header = self.buffer if first < 0 else self.buffer[:first]
        self.symbols, self.tags, self.version = _vasprun_header(header, self.name)
        self.atoms = len(self.symbols)
        if first < 0:
            raise TrajectoryFileError(f'{self.name} has no <calculation> (no ionic step was completed)')
        self.bytes_before = first
        self.buffer = self.buffer[first:]

    def read_frames(self) -> tuple[np.ndarray, bool]:
        """The Cartesian positions of all complete calculations; whether the file ended inside one."""
        self.store = _FrameStore(self.atoms)
        self.closed = False  # whether </modeling> came after the last calculation
        position = 0  # where the next <calculation> may start
        while True:
            blocks = []
            while (start := self.buffer.find(b'<calculation>', position)) >= 0:
                end = self.buffer.find(b'</calculation>', start)
                if end < 0:
                    break
                blocks.append((start, end))
                position = end + len(b'</calculation>')
            if blocks:
                self._parse(blocks)
            self.closed = self.closed or self.buffer.find(b'</modeling>', position) >= 0
            if self.eof:
                return self.store.result(), start >= 0
            # Keep an incomplete calculation, or enough of the end for a tag cut in two.
            keep_from = start if start >= 0 else max(position, len(self.buffer) - 16)
            self.bytes_before += keep_from
            self.buffer = self.buffer[keep_from:]
            position = 0
            self._fill()

    def _parse(self, blocks: list[tuple[int, int]]) -> None:
        if self.calculations == 0 and self.file_size is not None:
            start, end = blocks[0]
            frame_bytes = blocks[1][0] - start if len(blocks) > 1 else end - start + len(b'</calculation>\n ')
            self.store.reserve_capacity(int((self.file_size - self.bytes_before) / frame_bytes * 1.02) + 2)
        memory = memoryview(self.buffer)
        bases, positions = [], []
        for offset, (start, end) in enumerate(blocks):
            basis, fractional = _calculation_arrays(self.buffer, start, end, self.calculations + offset + 1, self.name)
            bases.append(memory[basis])
            positions.append(memory[fractional])
        frames = len(blocks)
        cells = self._parse_block(b''.join(bases), frames, 3, blocks, 'basis').reshape(frames, 3, 3)
        del bases
        fractional = self._parse_block(b''.join(positions), frames, self.atoms, blocks, 'positions')
        del positions, memory
        np.matmul(fractional.reshape(frames, self.atoms, 3), cells, out=self.store.slot(frames))
        self.cells.append(cells)
        self.calculations += frames

    def _parse_block(self, text: bytes, frames: int, rows: int, blocks, array: str) -> np.ndarray:
        try:
            return _parse_rows(_strip_vector_tags(text), frames * rows)
        except _MalformedTextError:
            pass
        for offset, (start, end) in enumerate(blocks):
            index = self.calculations + offset + 1
            spans = _calculation_arrays(self.buffer, start, end, index, self.name)
            lines = _strip_vector_tags(self.buffer[spans[0] if array == 'basis' else spans[1]]).split(b'\n')
            lines = [line for line in lines if line.strip()]
            for number, line in enumerate(lines):
                if _line_numbers(line) is None:
                    raise TrajectoryFileError(
                        f'{self.name}: <calculation> {index}, {array} row {number + 1}: expected three numbers, found '
                        f'{_show(line)}'
                    )
            if len(lines) != rows:
                what = f'atominfo lists {rows} atoms' if array == 'positions' else 'a cell has 3 vectors'
                raise TrajectoryFileError(
                    f'{self.name}: <calculation> {index} has {len(lines)} {array} rows, but {what}'
                )
        raise TrajectoryFileError(f'{self.name}: malformed {array} in <calculation> {self.calculations + 1}-')


def read_vasprun(
    source,
    timestep_fs: float | None = None,
    nblock: int | None = None,
    *,
    chunk_bytes: int | None = None,
) -> ParsedTrajectory:
    """Read the MD trajectory of a vasprun.xml into a :class:`ParsedTrajectory`, streaming.

    Each ``<calculation>`` (one per ionic step) gives a frame: its structure's ``basis`` (Å) and
    fractional ``positions``; the named structures outside them (``initialpos``, ``finalpos``,
    ``primitive_cell``) are not frames. Steps are 1, 2, ..., N (times N × ``POTIM`` ... see the module
    docstring); NBLOCK does not thin vasprun.xml, ML_OUTBLOCK does (VASP ≥ 6.4.3), and then steps go by it.

    :param source: a path, or an open binary file; plain, gzip, bzip2 or xz.
    :param timestep_fs: the time step (fs); overrides the file's POTIM (a warning when they differ).
        Without it, POTIM is read from ``<parameters>`` (what VASP used) or ``<incar>``.
    :param nblock: NBLOCK, recorded in ``parameters`` (overrides the file's).
    :param chunk_bytes: text read at a time (default :data:`CHUNK_BYTES`).
    :return: ``parameters`` holds ``timestep_fs``, ``nblock``, ``frame_interval_fs``, ``temperature_K``
        (TEBEG) when known, and the run's POTIM, NBLOCK, TEBEG, TEEND, IBRION, ISIF, MDALGO, NSW, SMASS
        lower-cased. A file cut inside a ``<calculation>`` (a killed run) keeps the complete ones, with a warning.
    :raises TrajectoryFileError: no time step anywhere, no complete ``<calculation>``, malformed arrays.
    """
    name = _source_name(source) or 'the vasprun.xml'
    with open_binary(source) as stream:
        reader = _VasprunReader(stream, name, chunk_bytes or CHUNK_BYTES, _plain_file_size(source))
        reader.read_header()
        positions, truncated = reader.read_frames()
    tags = reader.tags
    warnings = []
    potim = tags.get('POTIM')
    if timestep_fs is None:
        if potim is None:
            raise TrajectoryFileError(f'{name} has no POTIM (in <incar> or <parameters>): give the time step in fs')
        timestep_fs = float(potim)
    else:
        timestep_fs = float(timestep_fs)
        if potim is not None and float(potim) != timestep_fs:
            warnings.append(f'POTIM in {name} is {potim:g} fs; the time step given, {timestep_fs:g} fs, is used')
    if not timestep_fs > 0:
        raise TrajectoryFileError(f'the time step must be positive, not {timestep_fs} fs')
    if nblock is None:
        nblock = int(tags.get('NBLOCK', 1))
    frames = positions.shape[0]
    if truncated:
        warnings.append(
            f'{name} ends inside <calculation> {frames + 1} (the run was probably stopped): the {frames} complete '
            f'ionic step{"s" if frames != 1 else ""} before it are kept, the last, incomplete one is dropped'
        )
    elif not reader.closed:
        warnings.append(
            f'{name} ends without its closing tags (the run was probably stopped); all {frames} ionic '
            'steps in it are complete'
        )
    if frames == 0:
        raise TrajectoryFileError(f'{name} has no complete <calculation> (no ionic step was completed)')
    if tags.get('IBRION', 0) != 0:
        warnings.append(
            f'IBRION = {tags["IBRION"]} in {name}: not molecular dynamics (IBRION = 0); the frames are its ionic steps'
        )
    stride = 1
    outblock = tags.get('ML_OUTBLOCK', 1)
    if isinstance(outblock, int) and outblock > 1 and tags.get('ML_LMLFF') and reader.version >= (6, 4, 3):
        stride = outblock
    steps = np.arange(1, frames + 1, dtype=np.int64) * stride
    parameters = {
        'timestep_fs': timestep_fs,
        'nblock': int(nblock),
        'frame_interval_fs': stride * timestep_fs,
        **{tag.lower(): tags[tag] for tag in VASPRUN_TAGS if tag in tags},
    }
    if 'TEBEG' in tags:
        parameters['temperature_K'] = float(tags['TEBEG'])
    return ParsedTrajectory(
        symbols=reader.symbols,
        positions=positions,
        cells=np.concatenate(reader.cells) if reader.cells else np.empty((0, 3, 3)),
        times_ps=steps * (timestep_fs / 1000.0),
        steps=steps,
        parameters=parameters,
        warnings=warnings,
        sources=[name] if _source_name(source) else [],
    )


# ------------------------------------------------------------------------------------------- vasprun.xml energies

#: The items of the ``<energy>`` block that closes each ``<calculation>`` of an MD run, in eV. ``e_fr_energy`` is
#: the free energy (TOTEN, the potential energy of the dynamics), ``kinetic`` the ions' kinetic energy and
#: ``total`` the conserved energy of VASP's Nosé dynamics (``e_fr_energy + kinetic + nosepot + nosekinetic``).
VASPRUN_MD_ENERGIES = ('e_fr_energy', 'e_wo_entrp', 'e_0_energy', 'kinetic', 'nosepot', 'nosekinetic', 'total')


@dataclasses.dataclass
class VasprunEnergies:
    """The energies and electronic steps of each complete ionic step of a vasprun.xml.

    ``steps`` numbers the ionic steps 1, 2, ... as :func:`read_vasprun` does; ``energies`` maps each name of
    :data:`VASPRUN_MD_ENERGIES` to a ``(steps,)`` array in eV (NaN where VASP wrote none, or ``****``);
    ``electronic_steps`` counts the ``<scstep>`` of each ionic step (equal to ``nelm`` when the
    self-consistency stopped at NELM without converging); ``closed`` says whether ``</modeling>`` follows the
    last calculation (the run ended normally).
    """

    steps: np.ndarray
    energies: dict[str, np.ndarray]
    electronic_steps: np.ndarray
    nelm: int | None
    closed: bool
    warnings: list[str] = dataclasses.field(default_factory=list)


def _calculation_energies(buffer: bytes, start: int, end: int) -> tuple[dict, int]:
    """The ``<energy>`` items after the last ``<scstep>`` of one calculation, and its ``<scstep>`` count."""
    electronic_steps = buffer.count(b'<scstep>', start, end)
    last_scstep = buffer.rfind(b'</scstep>', start, end)
    energy = buffer.find(b'<energy>', last_scstep if last_scstep >= 0 else start, end)
    if energy < 0:
        return {}, electronic_steps
    close = buffer.find(b'</energy>', energy, end)
    return _xml_items(buffer[energy : close if close >= 0 else end]), electronic_steps


def read_vasprun_energies(source, *, chunk_bytes: int | None = None) -> VasprunEnergies:
    """Read the energies (eV) and the number of electronic steps of every ionic step of a vasprun.xml, streaming.

    Only the ``<energy>`` block that closes each ``<calculation>`` is read (not those of its ``<scstep>``), and
    NELM from ``<parameters>``. A file cut inside a ``<calculation>`` (a killed run) keeps the complete ones,
    with a warning; a file with no complete calculation gives empty arrays.

    :param source: a path, or an open binary file; plain, gzip, bzip2 or xz.
    :param chunk_bytes: text read at a time (default :data:`CHUNK_BYTES`).
    :raises TrajectoryFileError: when the file is not a vasprun.xml.
    """
    name = _source_name(source) or 'the vasprun.xml'
    rows: dict[str, list[float]] = {key: [] for key in VASPRUN_MD_ENERGIES}
    electronic: list[int] = []
    warnings: list[str] = []
    closed = False
    truncated = False
    marker = b'<calculation>'
    with open_binary(source) as stream:
        reader = _ChunkedStream(stream, name, chunk_bytes or CHUNK_BYTES, None)
        search = 0
        while (first := reader.buffer.find(marker, search)) < 0 and not reader.eof:
            search = max(0, len(reader.buffer) - len(marker))
            reader._fill()
        header = reader.buffer if first < 0 else reader.buffer[:first]
        if b'<modeling' not in header:
            raise TrajectoryFileError(f'{name}: not a vasprun.xml (no <modeling> element before any <calculation>)')
        tags = {**_xml_items(_section(header, b'incar')), **_xml_items(_section(header, b'parameters'))}
        if first >= 0:
            reader.buffer = reader.buffer[first:]
            position = 0
            while True:
                while (start := reader.buffer.find(marker, position)) >= 0:
                    end = reader.buffer.find(b'</calculation>', start)
                    if end < 0:
                        break
                    items, steps = _calculation_energies(reader.buffer, start, end)
                    for key in VASPRUN_MD_ENERGIES:
                        value = items.get(key)
                        rows[key].append(float(value) if isinstance(value, int | float) else np.nan)
                    electronic.append(steps)
                    position = end + len(b'</calculation>')
                closed = closed or reader.buffer.find(b'</modeling>', position) >= 0
                if reader.eof:
                    truncated = start >= 0
                    break
                # Keep an incomplete calculation, or enough of the end for a tag cut in two.
                keep_from = start if start >= 0 else max(position, len(reader.buffer) - 16)
                reader.buffer = reader.buffer[keep_from:]
                position = 0
                reader._fill()
    count = len(electronic)
    if truncated:
        warnings.append(
            f'{name} ends inside <calculation> {count + 1} (the run was probably stopped): the energies of the '
            f'{count} complete ionic step{"s" if count != 1 else ""} before it are kept'
        )
    nelm = tags.get('NELM')
    return VasprunEnergies(
        steps=np.arange(1, count + 1, dtype=np.int64),
        energies={key: np.array(values, dtype=float) for key, values in rows.items()},
        electronic_steps=np.array(electronic, dtype=np.int64),
        nelm=int(nelm) if isinstance(nelm, int | float) else None,
        closed=closed,
        warnings=warnings,
    )


# --------------------------------------------------------------------------------------------------- POSCAR / CONTCAR


@dataclasses.dataclass
class PoscarState:
    """The cell, positions and (when the file has them) velocities of a POSCAR or CONTCAR.

    ``cell`` is ``(3, 3)`` Å with the lattice vectors as rows (scale factor applied), ``positions`` Cartesian
    Å, ``velocities`` Cartesian Å/fs (VASP's unit) or None. ``species`` are the names of the species line as
    written (None in the VASP 4 layout), ``counts`` the atoms of each.
    """

    species: list[str] | None
    counts: list[int]
    cell: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def symbols(self) -> list[str] | None:
        """The element of each atom, from the species line; None when the file has none."""
        if self.species is None:
            return None
        return _per_atom([_element(name) for name in self.species], self.counts)


def _poscar_rows(lines: list[str], first: int, rows: int) -> np.ndarray | None:
    """The first three numbers of ``rows`` lines from ``first``; None if a line is missing or malformed."""
    if first + rows > len(lines):
        return None
    values = []
    for line in lines[first : first + rows]:
        numbers = _line_numbers(' '.join(line.split()[:3]))
        if numbers is None:
            return None
        values.append(numbers)
    return np.array(values, dtype=float).reshape(rows, 3)


def read_poscar(source, timestep_fs: float | None = None) -> PoscarState:
    """Read a POSCAR or CONTCAR, with the velocity block of an MD run when there is one.

    After an MD step VASP writes CONTCAR with Cartesian velocities in Å/fs after a blank line (then the
    predictor-corrector block, not read here). A velocity block introduced by a line starting with ``C`` or
    ``K`` is Cartesian (Å/fs) too; one introduced by ``D`` is in direct coordinates per time step and needs
    ``timestep_fs``. An incomplete velocity block (a file cut while written) gives no velocities, with a warning.

    :param source: a path, or an open binary file; plain, gzip, bzip2 or xz.
    :param timestep_fs: POTIM (fs), only needed for velocities in direct coordinates.
    :raises TrajectoryFileError: for a malformed header or incomplete positions.
    """
    name = _source_name(source) or 'the POSCAR'
    lines = _read_text(source).splitlines()
    header = _parse_xdatcar_header([line.encode() for line in lines[:7]], name, 1)
    atoms = sum(header.counts)
    index = header.lines
    if index < len(lines) and lines[index].strip()[:1] in ('S', 's'):
        index += 1  # selective dynamics: the flags after the coordinates are not read
    if index >= len(lines):
        raise TrajectoryFileError(f'{name}: no coordinate-mode line (Direct or Cartesian) after the header')
    cartesian = lines[index].strip()[:1] in ('C', 'c', 'K', 'k')
    coordinates = _poscar_rows(lines, index + 1, atoms)
    if coordinates is None:
        raise TrajectoryFileError(f'{name}: expected {atoms} lines of coordinates from line {index + 2}')
    if cartesian:
        # Cartesian coordinates are scaled like the lattice: by the scale factor(s) of line 2.
        lattice = np.array([_line_numbers(line) for line in lines[2:5]], dtype=float)
        scale = np.linalg.norm(header.cell, axis=1) / np.linalg.norm(lattice, axis=1)
        positions = coordinates * (scale if len(lines[1].split()) == 3 else scale[0])
    else:
        positions = coordinates @ header.cell
    warnings = []
    velocities = None
    mode_line = index + 1 + atoms
    if mode_line < len(lines) and any(line.strip() for line in lines[mode_line:]):
        mode = lines[mode_line].strip()[:1]
        block = _poscar_rows(lines, mode_line + 1, atoms)
        if mode in ('L', 'l'):
            warnings.append(f'{name}: lattice velocities (a variable-cell MD) are not read; no velocities')
        elif block is None:
            warnings.append(
                f'{name}: the velocity block after line {mode_line + 1} is incomplete (the file was probably cut '
                'while written); no velocities'
            )
        elif mode in ('D', 'd'):
            if timestep_fs is None:
                raise TrajectoryFileError(f'{name}: velocities in direct coordinates need the time step (POTIM)')
            velocities = block @ header.cell / float(timestep_fs)
        else:
            velocities = block
    return PoscarState(
        species=header.species,
        counts=header.counts,
        cell=header.cell,
        positions=positions,
        velocities=velocities,
        warnings=warnings,
    )
