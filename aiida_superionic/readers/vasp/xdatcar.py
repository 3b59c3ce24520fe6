"""The streaming XDATCAR reader: the header, the configurations cut at frame boundaries, the step numbers."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from ..trajectory import ParsedTrajectory, TrajectoryFileError
from .files import _plain_file_size, _source_name, open_binary
from .parsing import (
    _INT_PATTERN,
    _WHITESPACE,
    CHUNK_BYTES,
    _ChunkedStream,
    _element,
    _formula_text,
    _FrameStore,
    _line_numbers,
    _MalformedTextError,
    _parse_rows,
    _per_atom,
    _show,
)

#: A header that grows beyond this without a ``Direct configuration=`` line is not an XDATCAR's.
XDATCAR_HEADER_MAX_BYTES = 2**20


_XDATCAR_MARKER = b'Direct configuration='


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
