"""The streaming vasprun.xml readers: the trajectory (positions, cells, the MD tags) and the energies of each ionic
step."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from ..trajectory import ParsedTrajectory, TrajectoryFileError
from .files import _plain_file_size, _source_name, open_binary
from .parsing import (
    _TRUE_WORDS,
    CHUNK_BYTES,
    _ChunkedStream,
    _element,
    _FrameStore,
    _line_numbers,
    _MalformedTextError,
    _parse_rows,
    _show,
)

#: vasprun.xml tags recorded in ``parameters`` (lower-cased, as the run's INCAR tags are).
VASPRUN_TAGS = ('POTIM', 'NBLOCK', 'TEBEG', 'TEEND', 'IBRION', 'ISIF', 'MDALGO', 'NSW', 'SMASS')
_XML_ITEM_PATTERN = re.compile(rb'<i\b([^>]*)>([^<]*)</i>')
_XML_NAME_PATTERN = re.compile(rb'\bname="([^"]*)"')
_XML_TYPE_PATTERN = re.compile(rb'\btype="([^"]*)"')
_XML_ATOM_PATTERN = re.compile(rb'<rc>\s*<c>([^<]*)</c>')


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
