"""What ``import_md_run`` checks of the user's files before it stores any of them.

A segment given twice would be joined to itself (the atoms jump back to the start: a negative D, exit 0), and a
damaged file would be stored as provenance of a failed calculation. Both are the user's to fix, so they are
refused here, in one line naming the file, with nothing stored. The files are read once, in blocks: the same pass
hashes them (the hash finds an earlier import) and decompresses them (a truncated or corrupt archive is found).
"""

from __future__ import annotations

import bz2
import dataclasses
import hashlib
import lzma
import math
import pathlib
import zlib

from ..readers.trajectory import TrajectoryFileError
from ..readers.vasp import read_incar

#: Decompressors by suffix; gzip through zlib (wbits 31: a gzip header), since ``gzip`` offers no streaming check.
DECOMPRESSORS = {
    '.gz': lambda: zlib.decompressobj(wbits=31),
    '.bz2': bz2.BZ2Decompressor,
    '.xz': lzma.LZMADecompressor,
}

#: INCAR tags an import reads as numbers, and their unit.
NUMERIC_INCAR_TAGS = {'POTIM': 'fs', 'NBLOCK': 'ionic steps', 'TEBEG': 'K'}


@dataclasses.dataclass(frozen=True)
class SegmentDigests:
    """The SHA-256 of a segment's files: ``named`` over their names and bytes (the extra an earlier import is found
    by), ``trajectory`` over the bytes of its trajectory file only (a copy under another name, or next to another
    INCAR, is still the same segment; segments of one run may share their INCAR)."""

    named: str
    trajectory: str


def checked_digests(files: list[pathlib.Path], trajectory: pathlib.Path, block: int = 1 << 22) -> SegmentDigests:
    """Return the digests of one segment's ``files`` (``trajectory`` among them), refusing an empty, truncated or
    corrupt file.

    :raises TrajectoryFileError: naming the file and what is wrong with it.
    """
    named, trajectory_digest = hashlib.sha256(), ''
    for path in files:
        content = hashlib.sha256() if path == trajectory else None
        named.update(path.name.encode() + b'\0')
        if path.stat().st_size == 0:
            raise TrajectoryFileError(f'{path}: the file is empty (0 bytes); copy it again from the run')
        new_decompressor = DECOMPRESSORS.get(path.suffix)
        decompressor = new_decompressor() if new_decompressor else None
        decompressed = 0
        with path.open('rb') as handle:
            while chunk := handle.read(block):
                named.update(chunk)
                if content is not None:
                    content.update(chunk)
                if decompressor is not None:
                    decompressor, size = _decompress(path, decompressor, new_decompressor, chunk)
                    decompressed += size
        if decompressor is not None and not decompressor.eof:
            raise TrajectoryFileError(
                f'{path}: the {path.suffix} archive is truncated (it ends before its end-of-stream mark); '
                'copy the file again from the run, or decompress what is left and import that'
            )
        if decompressor is not None and decompressed == 0:
            raise TrajectoryFileError(f'{path}: the archive holds an empty file; copy it again from the run')
        named.update(b'\0')
        if content is not None:
            trajectory_digest = content.hexdigest()
    return SegmentDigests(named=named.hexdigest(), trajectory=trajectory_digest)


def _decompress(path: pathlib.Path, decompressor, new_decompressor, chunk: bytes):
    """Feed ``chunk`` on, starting a new decompressor where a member ends (gzip and xz files may hold several);
    return the decompressor and the bytes decompressed."""
    size = 0
    pending = chunk
    try:
        while pending:
            if decompressor.eof:
                decompressor = new_decompressor()
            size += len(decompressor.decompress(pending))
            pending = decompressor.unused_data if decompressor.eof else b''
    except (zlib.error, OSError, lzma.LZMAError, EOFError) as exception:
        raise TrajectoryFileError(
            f'{path}: not a valid {path.suffix} archive ({exception}); copy the file again from the run'
        ) from exception
    return decompressor, size


def refuse_repeated_segments(paths: list[pathlib.Path], digests: list[SegmentDigests] | None = None) -> None:
    """Refuse a segment given twice: the same path, two paths of one file, or (with ``digests``) the same bytes.

    :raises TrajectoryFileError: naming both arguments.
    """
    seen: dict[object, pathlib.Path] = {}
    for index, path in enumerate(paths):
        key = digests[index].trajectory if digests else path.resolve()
        if key in seen:
            same = 'the same file' if not digests else 'the same trajectory (identical bytes)'
            raise TrajectoryFileError(
                f'{path} is given twice ({seen[key]} and {path} are {same}): each segment of a run is given once, '
                'in order; nothing was imported'
            )
        seen[key] = path


def refuse_unreadable_incar_tags(folder: pathlib.Path, files: dict[str, pathlib.Path], timestep_fs) -> None:
    """Refuse an INCAR whose POTIM, NBLOCK or TEBEG is not a number (``POTIM = 2 fs``), or an XDATCAR run whose
    INCAR has no POTIM and no time step is given: the time axis of the run would be unknown.

    :raises TrajectoryFileError: naming the INCAR, the tag and the fix.
    """
    incar = files.get('incar')
    if incar is None:
        return
    if incar.stat().st_size == 0:
        raise TrajectoryFileError(f'{incar}: the file is empty (0 bytes); copy it again from the run')
    tags = read_incar(incar)
    for tag, unit in NUMERIC_INCAR_TAGS.items():
        value = tags.get(tag)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise TrajectoryFileError(
                f'{incar}: {tag} = {value!r} is not a number of {unit} > 0; write it as VASP reads it '
                f'(e.g. {tag} = 2, no unit) and import again'
            )
    if 'POTIM' not in tags and timestep_fs is None and files['trajectory'].name.startswith('XDATCAR'):
        raise TrajectoryFileError(
            f'{incar}: no POTIM, so the time between frames of the XDATCAR is unknown; give the time step '
            '(--timestep-fs, timestep_fs)'
        )
