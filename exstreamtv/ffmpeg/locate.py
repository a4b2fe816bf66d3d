"""Finding ffmpeg and ffprobe: the config, then PATH, then the pip-installed static build."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from exstreamtv.errors import ExStreamTVError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FFmpegTools:
    """The ffmpeg binary (and ffprobe, if any) the server uses, and where they came from."""

    ffmpeg: str
    ffprobe: str | None
    version: str
    origin: str

    def describe(self) -> str:
        probe = self.ffprobe or "none (probing in-process with PyAV)"
        return f"ffmpeg {self.version} at {self.ffmpeg} ({self.origin}); ffprobe: {probe}"


def _version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "-hide_banner", "-version"], capture_output=True, text=True, timeout=15,
            check=False,
        ).stdout
    except OSError as exc:
        raise ExStreamTVError(f"cannot run {binary}: {exc.strerror}") from None
    first = out.splitlines()[0] if out else ""
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[0] == "ffmpeg" else "unknown"


@lru_cache(maxsize=8)
def find_ffmpeg(ffmpeg_path: str | None = None, ffprobe_path: str | None = None) -> FFmpegTools:
    """Locate the binaries; raises with what to install when there is no ffmpeg at all."""
    if ffmpeg_path:
        resolved = shutil.which(ffmpeg_path)
        if resolved is None:
            raise ExStreamTVError(
                f"ffmpeg.ffmpeg_path {ffmpeg_path!r} is not an executable; fix the path or "
                "set it to null to use the one on PATH"
            )
        ffmpeg, origin = resolved, "from config"
    elif shutil.which("ffmpeg"):
        ffmpeg, origin = str(shutil.which("ffmpeg")), "from PATH"
    else:
        try:
            import imageio_ffmpeg

            ffmpeg, origin = imageio_ffmpeg.get_ffmpeg_exe(), "bundled imageio-ffmpeg"
        except Exception:
            raise ExStreamTVError(
                "no ffmpeg found: install it (apt-get install ffmpeg) or "
                "pip install imageio-ffmpeg"
            ) from None
    if ffprobe_path:
        ffprobe = shutil.which(ffprobe_path)
        if ffprobe is None:
            raise ExStreamTVError(f"ffmpeg.ffprobe_path {ffprobe_path!r} is not an executable")
    else:
        ffprobe = shutil.which("ffprobe")
    return FFmpegTools(ffmpeg, ffprobe, _version(ffmpeg), origin)
