"""Whether a watermark image can be overlaid: a readable local picture of sane size.

A watermark that ffmpeg cannot open would make every item fail, so the image is checked
once (per path, size and modification time) by decoding it with the real ffmpeg; a
missing, unreadable or huge image is reported and the channel plays without it.
"""

from __future__ import annotations

import os
import re
import subprocess

#: Largest watermark file and picture accepted.
MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 4096

_checked: dict[tuple[str, int, int], str | None] = {}
_SIZE = re.compile(r"Video: .*?(\d{2,5})x(\d{2,5})")


def image_problem(ffmpeg: str, path: str, timeout: float = 15.0) -> str | None:
    """Why ``path`` cannot be a watermark (missing, remote, too big, unreadable), or None."""
    if "://" in path:
        return "a watermark must be a local image file, not a URL"
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if st.st_size > MAX_BYTES:
        return f"{path} is {st.st_size // 1024} KiB; a watermark may be at most {MAX_BYTES // 1048576} MiB"
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _checked:
        _checked[key] = _decode_problem(ffmpeg, path, timeout)
    return _checked[key]


def _decode_problem(ffmpeg: str, path: str, timeout: float) -> str | None:
    try:
        proc = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", path, "-frames:v", "1",
                               "-f", "null", "-"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{path} could not be decoded: {exc}"
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["unknown error"]
        return f"{path} is not an image ffmpeg can read ({last[0]})"
    match = _SIZE.search(proc.stderr)
    if match and max(int(match.group(1)), int(match.group(2))) > MAX_SIDE:
        return (f"{path} is {match.group(1)}x{match.group(2)} pixels; a watermark may be at most "
                f"{MAX_SIDE} pixels on a side")
    return None
