"""Fonts for drawn subtitles: fontconfig's sans-serif, and a font for each letter it lacks.

Pillow draws a string in one font and shows a letter that font lacks as an empty box. A
Latin font (DejaVu, the usual sans-serif) has no Chinese, Japanese or Korean, and the
fonts that have them often lack Latin letters (Droid Sans Fallback has none). So a line
is split into *runs*, each in the first font that has its letters: the sans-serif where
it can, else a font fontconfig finds for the letter (``fc-match`` with a ``charset``), each
checked against the letters it really has (``fc-query``). Spaces and combining marks stay
in the run they follow. Without fontconfig every line is one run in the sans-serif.

Everything here may run in several worker threads at once (one per channel drawing).
"""

from __future__ import annotations

import bisect
import functools
import subprocess
import threading
import unicodedata

from PIL import ImageDraw, ImageFont

#: Places a subtitle font is found when fontconfig cannot say.
FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
              "/usr/share/fonts/TTF/DejaVuSans.ttf",
              "/System/Library/Fonts/Supplemental/Arial.ttf")
_TIMEOUT = 10
_lock = threading.Lock()
#: Fonts found for letters the sans-serif lacks, in the order they were found.
_fallbacks: list[str] = []

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _run(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT,
                              check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _loads(path: str) -> bool:
    try:
        ImageFont.truetype(path, 12)
    except OSError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def font_path() -> str | None:
    """A sans-serif font file: fontconfig's choice, else a usual place, else None."""
    found = _run("fc-match", "-f", "%{file}", "sans-serif")
    return next((path for path in (found, *FONT_PATHS) if path and _loads(path)), None)


@functools.lru_cache(maxsize=32)
def coverage(path: str) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The letters ``path`` has, as sorted (starts, ends) of ranges; None if unknown. Of
    a font collection (``.ttc``) its first face, the one Pillow opens."""
    ranges: list[tuple[int, int]] = []
    for part in _run("fc-query", "-i", "0", "-f", "%{charset}", path).split():
        low, _, high = part.partition("-")
        try:
            ranges.append((int(low, 16), int(high or low, 16)))
        except ValueError:
            return None
    ranges.sort()
    return (tuple(r[0] for r in ranges), tuple(r[1] for r in ranges)) if ranges else None


def has(path: str, letter: int) -> bool:
    """Whether the font at ``path`` has ``letter`` (a code point); True when unknown."""
    ranges = coverage(path)
    if ranges is None:
        return True
    starts, ends = ranges
    i = bisect.bisect_right(starts, letter) - 1
    return i >= 0 and letter <= ends[i]


@functools.lru_cache(maxsize=4096)
def font_for(letter: int) -> str | None:
    """The font file to draw ``letter`` with: the sans-serif when it has it, else a font
    that does, else the sans-serif (an empty box beats a missing letter)."""
    base = font_path()
    if base is None or has(base, letter):
        return base
    with _lock:
        known = list(_fallbacks)
    for path in known:
        if has(path, letter):
            return path
    found = _run("fc-match", "-f", "%{file}", f"sans-serif:charset={letter:x}")
    if found and found != base and coverage(found) is not None and has(found, letter) \
            and _loads(found):
        with _lock:
            if found not in _fallbacks:
                _fallbacks.append(found)
        return found
    return base


def _follows(letter: str) -> bool:
    """A space or a combining mark: drawn in the font of what it follows."""
    return letter.isspace() or unicodedata.category(letter)[0] == "M"


def runs(line: str) -> list[tuple[str, str | None]]:
    """``line`` as (text, font file) runs, each in a font that has its letters."""
    out: list[tuple[str, str | None]] = []
    base = font_path()
    for letter in line:
        path = out[-1][1] if out and _follows(letter) else font_for(ord(letter))
        if path is None:
            path = base
        if out and out[-1][1] == path:
            out[-1] = (out[-1][0] + letter, path)
        else:
            out.append((letter, path))
    return out


@functools.lru_cache(maxsize=16)
def font(path: str | None, size: int) -> Font:
    """The font at ``path`` in ``size`` pixels (Pillow's own when there is no file)."""
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


def length(line: str, size: int) -> float:
    """How wide ``line`` is drawn in ``size`` pixels."""
    return sum(font(path, size).getlength(text) for text, path in runs(line))


def ascent(size: int) -> int:
    """How far above the baseline the sans-serif's letters reach at ``size``."""
    face = font(font_path(), size)
    return face.getmetrics()[0] if isinstance(face, ImageFont.FreeTypeFont) else size


def draw_line(draw: ImageDraw.ImageDraw, centre: float, baseline: float, line: str,
              size: int, stroke: int) -> None:
    """``line`` drawn white with a black outline, centred on ``centre``, each run in its
    font, all on one baseline."""
    pieces = runs(line)
    x = centre - sum(font(path, size).getlength(text) for text, path in pieces) / 2
    for text, path in pieces:
        face = font(path, size)
        draw.text((x, baseline), text, font=face, anchor="ls", fill=(255, 255, 255, 255),
                  stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
        x += face.getlength(text)
