"""``type: demo``: short generated clips, so a fresh install has a channel to watch.

At the first scan, ffmpeg renders ``clips`` test-pattern clips of ``seconds`` each into
``path`` (under the data folder by default); after that it behaves like ``local``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import voluptuous as vol

from exstreamtv import MediaError, MediaItem, SourceConfig, SourceContext, hookimpl

from .local import LocalSource

log = logging.getLogger(__name__)

PATTERNS = ("testsrc2", "smptehdbars", "rgbtestsrc", "mandelbrot", "life")
TONES = (440, 523, 659, 784, 880)

SCHEMA = {
    vol.Optional("path", default=None): vol.Any(None, str),
    vol.Optional("clips", default=3): vol.All(int, vol.Range(min=1, max=5)),
    vol.Optional("seconds", default=20): vol.All(int, vol.Range(min=2, max=600)),
    vol.Optional("width", default=640): vol.All(int, vol.Range(min=64, max=1920)),
    vol.Optional("height", default=360): vol.All(int, vol.Range(min=64, max=1080)),
}


def clip_argv(ffmpeg: str, index: int, seconds: int, width: int, height: int, out: Path,
              with_text: bool) -> list[str]:
    pattern = PATTERNS[index % len(PATTERNS)]
    size = f"{width}x{height}"
    video = f"{pattern}=size={size}:rate=25" if pattern != "life" else f"life=size={size}:rate=25:mold=10"
    vf = "format=yuv420p"
    if with_text:
        vf = (f"drawtext=text='ExStreamTV demo {index + 1}':fontsize={height // 10}:"
              "fontcolor=white:box=1:boxcolor=black@0.6:x=(w-tw)/2:y=h-th-20,"
              "drawtext=text='%{pts\\:hms}':fontsize=" + str(height // 14) +
              ":fontcolor=yellow:box=1:boxcolor=black@0.6:x=20:y=20," + vf)
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", video,
        "-f", "lavfi", "-i", f"sine=frequency={TONES[index % len(TONES)]}:sample_rate=48000",
        "-t", str(seconds), "-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-g", "50",
        "-c:a", "aac", "-ac", "2", "-b:a", "96k",
        "-metadata:s:a:0", "language=eng", "-metadata", f"title=Demo clip {index + 1}",
        "-f", "mp4", str(out),
    ]


class DemoSource(LocalSource):
    """Generates its clips when they are missing, then plays them like a folder."""

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        opts = dict(config.options)
        folder = opts.get("path") or str(Path(context.data_dir) / "demo")
        super().__init__(SourceConfig(config.id, config.type, {**opts, "path": folder}), context)
        self.opts = opts

    async def _render(self, index: int, out: Path) -> None:
        ffmpeg = self.context.tools.ffmpeg
        for with_text in (True, False):
            argv = clip_argv(ffmpeg, index, self.opts["seconds"], self.opts["width"],
                             self.opts["height"], out, with_text)
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode == 0:
                return
            log.info("Demo clip %d without text overlay (%s)", index + 1,
                     err.decode(errors="replace").strip().splitlines()[-1:])
        raise MediaError(f"could not generate the demo clip {out}")

    async def scan(self) -> list[MediaItem]:
        self.root.mkdir(parents=True, exist_ok=True)
        for index in range(self.opts["clips"]):
            out = self.root / f"demo-{index + 1:02d}.mp4"
            if not out.exists():
                tmp = out.with_name(out.name + ".part")
                log.info("Generating demo clip %s", out)
                await self._render(index, tmp)
                tmp.replace(out)
        return await super().scan()


def factory(config: SourceConfig, context: SourceContext) -> DemoSource:
    return DemoSource(config, context)


@hookimpl
def register_sources(register: Any) -> None:
    register("demo", factory, SCHEMA, "generated demo clips")
