"""Files named in the config (channel logos, watermarks) are found from the config file's folder.

A relative ``logo:`` used to be served from the config folder by /artwork but overlaid as
a watermark from the server's working directory: two different files, or none.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import httpx
from PIL import Image

from exstreamtv.config.model import config_relative
from tests.helpers import Server, base_config, channel, clips_folder, ffmpeg_bin, write_config
from tests.library_layout import image


def test_config_relative_takes_relative_paths_from_the_config_folder(tmp_path):
    config = tmp_path / "conf" / "config.yaml"
    assert config_relative("logos/a.png", config) == tmp_path / "conf" / "logos" / "a.png"
    assert config_relative("../a.png", config) == tmp_path / "a.png"
    assert config_relative("/srv/a.png", config) == Path("/srv/a.png")
    assert config_relative("~/a.png", config) == Path.home() / "a.png"
    assert config_relative("a.png", None) == Path(os.getcwd()) / "a.png"


def _first_frame_region(ts: Path, x: int, y: int, w: int, h: int) -> tuple[int, int, int]:
    proc = subprocess.run([ffmpeg_bin(), "-hide_banner", "-v", "error", "-i", str(ts),
                           "-frames:v", "1", "-vf", f"crop={w}:{h}:{x}:{y},scale=1:1:flags=area",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                          capture_output=True, timeout=60, check=True)
    r, g, b = proc.stdout[:3]
    return r, g, b


def test_relative_logo_is_the_same_file_for_artwork_and_watermark(tmp_path):
    """The server runs elsewhere, with a decoy of the same relative name in its folder."""
    conf = tmp_path / "conf"
    image(conf / "logos" / "channel.png", "red", "200x100")
    elsewhere = tmp_path / "elsewhere"
    image(elsewhere / "logos" / "channel.png", "blue", "200x100")
    cfg = base_config(tmp_path, clips_folder("basic", 3, 4.0), channels=[
        channel(1, "Clips", "clips", logo="logos/channel.png",
                ffmpeg={"watermark": {"image": "logo", "position": "bottom-right",
                                      "size": 0.25, "opacity": 1.0}})])
    with Server(write_config(conf / "config.yaml", cfg), cwd=elsewhere) as server:
        served = Image.open(io.BytesIO(server.get("/artwork/channels/1").content)).convert("RGB")
        assert served.getpixel((10, 10))[0] > 200 and served.getpixel((10, 10))[2] < 60
        ts = tmp_path / "channel.ts"
        with httpx.stream("GET", f"{server.url}/stream/channels/1.ts", timeout=60) as response:
            assert response.status_code == 200
            with ts.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    if out.tell() > 400_000:
                        break
        assert "no watermark" not in server.log
    # 320x180 output: the 80x40 watermark sits 10 px from the right and bottom edges.
    r, g, b = _first_frame_region(ts, 320 - 10 - 70, 180 - 10 - 30, 60, 20)
    assert r > 180 and g < 80 and b < 80, (r, g, b)
