"""The MD tags of a run: INCAR's (all of them, typed) and OUTCAR's (the few that set the trajectory's times)."""

from __future__ import annotations

import re

from .files import _read_text, open_binary
from .parsing import _FALSE_WORDS, _FLOAT_PATTERN, _INT_PATTERN, _TRUE_WORDS

#: The most of an OUTCAR that :func:`read_outcar_parameters` reads when it finds no first ionic step.
OUTCAR_HEADER_MAX_BYTES = 32 * 2**20


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
