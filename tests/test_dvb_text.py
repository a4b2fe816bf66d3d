"""Text subtitles drawn as DVB subtitles: the pictures, their 4-bit encoding, the screens.

ffmpeg's own DVB subtitle decoder is the reader: what it draws over a picture must be
the picture that was encoded, pixel for pixel.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from pathlib import Path

import pytest

from exstreamtv.ffmpeg.dvb_subtitles import (
    MAX_PES_DATA,
    SubtitlePicture,
    blank_stream_bytes,
    display_set,
    subtitle_packets,
)
from exstreamtv.streaming import dvb_text, fonts
from exstreamtv.streaming.dvb_text import PALETTE, DvbTextTrack, Screen, plain_text, render, screens
from exstreamtv.streaming.ts import TSSplicer
from exstreamtv.streaming.webvtt import Cue
from tests.helpers import ffmpeg_bin

#: Opaque greys of the palette (indexes 10, 11, 12: luma 16, 126, 235 in TV range) as
#: full-range grey pixels.
GREYS = {10: 0, 11: 128, 12: 255}
BACKGROUND = 80  # the picture behind (transparent index 0 shows it)


def subtitle_file(path: Path, size: tuple[int, int], *shown: tuple[float, SubtitlePicture | None]) -> Path:
    """A 3-second grey video with a DVB subtitle stream of ``shown`` display sets."""
    splicer = TSSplicer()
    data = bytearray(splicer.inject(blank_stream_bytes("eng")))
    for version, (at, picture) in enumerate(shown, start=2):
        data += splicer.inject(subtitle_packets(0x100, round(at * 90000),
                                                display_set(picture, size, version, 10)))
    subs = path.with_suffix(".subs.ts")
    subs.write_bytes(data)
    w, h = size
    subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=0x{BACKGROUND:02x}{BACKGROUND:02x}{BACKGROUND:02x}:s={w}x{h}:d=3",
                    "-i", str(subs), "-map", "0:v", "-map", "1:s", "-c:v", "libx264", "-qp", "0",
                    "-pix_fmt", "yuv444p", "-c:s", "copy", str(path)], check=True, timeout=60)
    return path


def drawn(path: Path, at: float, size: tuple[int, int]) -> bytes:
    proc = subprocess.run(
        [ffmpeg_bin(), "-v", "error", "-i", str(path), "-filter_complex",
         "[0:v][0:s]overlay=eof_action=pass,format=gray[v]", "-map", "[v]", "-ss", f"{at:.2f}",
         "-frames:v", "1", "-f", "rawvideo", "-"], capture_output=True, check=True, timeout=60)
    assert len(proc.stdout) == size[0] * size[1]
    return proc.stdout


def test_every_run_length_decodes_to_the_same_pixels(tmp_path):
    """Runs of 1 to 300 pixels of each kind (transparent, and colours), on odd and even
    lines (the two fields), come back exactly as encoded."""
    rng = random.Random(7)
    width, height = 320, 45
    rows = []
    for _ in range(height):
        row = bytearray()
        while len(row) < width:
            n = rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 10, 24, 25, 26, 100, 280, 281, 300])
            row += bytes([rng.choice([0, 10, 11, 12])]) * n
        rows.append(bytes(row[:width]))
    picture = SubtitlePicture(0, 100, width, height, b"".join(rows), PALETTE)
    size = (320, 180)
    out = subtitle_file(tmp_path / "runs.ts", size, (0.5, picture), (2.0, None))
    frame = drawn(out, 1.0, size)
    expected = bytes(GREYS.get(p, BACKGROUND) for p in picture.pixels)
    got = frame[100 * width:(100 + height) * width]
    wrong = sum(abs(a - b) > 3 for a, b in zip(got, expected, strict=True))
    assert wrong == 0, f"{wrong} of {len(expected)} pixels differ"
    assert max(abs(p - BACKGROUND) for p in frame[:100 * width]) <= 3  # nothing above it
    cleared = drawn(out, 2.5, size)
    assert max(abs(p - BACKGROUND) for p in cleared) <= 3


def test_a_rendered_cue_is_white_letters_near_the_bottom(tmp_path):
    size = (1280, 720)
    picture = render("It's l'été — «quoted» & more", size)
    assert picture is not None
    assert picture.y + picture.height <= 720 - 30 and picture.y > 560  # above the bottom edge
    assert abs(picture.x + picture.width / 2 - 640) <= 2  # centred
    assert set(picture.pixels) <= set(range(len(PALETTE))) and len(PALETTE) <= 16
    out = subtitle_file(tmp_path / "cue.ts", size, (0.5, picture), (2.0, None))
    frame = drawn(out, 1.0, size)
    box = [frame[y * 1280 + x] for y in range(picture.y, picture.y + picture.height)
           for x in range(picture.x, picture.x + picture.width)]
    assert max(box) > 220 and min(box) < 30  # white letters, black outline
    assert sum(p > 200 for p in box) > 500


@pytest.mark.parametrize("text", ["", "<i></i>", "{\\an8}", "   \n  "])
def test_nothing_to_draw_is_no_picture(text):
    assert render(plain_text(text), (320, 180)) is None


def test_odd_text_still_draws():
    """Scripts the font may lack, emoji, control characters and a runaway cue."""
    for text in ["日本語の字幕", "🙂 ok", "tab\there\x00nul", "word " * 500, "x" * 400]:
        picture = render(text, (320, 180))
        assert picture is not None and picture.width <= 320 and picture.height <= 180


def test_letters_the_sans_serif_lacks_are_drawn_in_a_font_that_has_them(tmp_path):
    """Japanese and Chinese beside Latin: each letter in a font that has it (no empty
    boxes), on one line; a long line without spaces is wrapped between letters."""
    base = fonts.font_path()
    assert base is not None and not fonts.has(base, ord("世"))  # DejaVu: no CJK
    pieces = fonts.runs("Hello, 世界! 日本語")
    assert [text for text, _ in pieces] == ["Hello, ", "世界", "! ", "日本語"]
    cjk = pieces[1][1]
    assert cjk is not None and cjk != base and pieces[3][1] == cjk
    assert all(fonts.has(cjk, ord(letter)) for letter in "世界日本語")
    assert pieces[0][1] == base and pieces[2][1] == base
    # Different letters give different pictures (empty boxes would all look alike).
    one, two = render("日本語", (320, 180)), render("字幕表", (320, 180))
    assert one is not None and two is not None and one.pixels != two.pixels
    long = render("字" * 60, (320, 180))
    assert long is not None and long.width <= 320 * 0.9 + 8 and long.height > 2 * one.height
    size = (1280, 720)  # the example config's profile
    picture = render("Hello, 世界!", size)
    assert picture is not None
    out = subtitle_file(tmp_path / "cjk.ts", size, (0.5, picture), (2.0, None))
    frame = drawn(out, 1.0, size)
    box = [frame[y * size[0] + x] for y in range(picture.y, picture.y + picture.height)
           for x in range(picture.x, picture.x + picture.width)]
    assert sum(p > 200 for p in box) > 500 and min(box) < 30


def test_markup_is_dropped():
    assert plain_text("<i>It's</i> &amp; <font color=\"red\">red</font>\n\n{\\i1}b") == "It's & red\nb"


def test_overlapping_cues_share_a_screen():
    cues = [Cue(1.0, 3.0, "one"), Cue(2.0, 4.0, "two"), Cue(4.0, 5.0, "three"),
            Cue(6.0, 6.0, "empty span"), Cue(7.0, 8.0, "<i></i>")]
    assert screens(cues) == [Screen(1.0, 2.0, "one"), Screen(2.0, 3.0, "one\ntwo"),
                             Screen(3.0, 4.0, "two"), Screen(4.0, 5.0, "three")]


def test_a_display_set_too_big_for_one_pes_is_refused():
    rng = random.Random(1)
    noise = bytes(rng.choice([1, 5, 9, 12]) for _ in range(1280 * 200))
    picture = SubtitlePicture(0, 0, 1280, 200, noise, PALETTE)
    with pytest.raises(ValueError, match="over the format's limit"):
        display_set(picture, (1280, 720), 2, 10)
    with pytest.raises(ValueError, match="over one PES"):
        subtitle_packets(0x100, 0, bytes(MAX_PES_DATA))


def test_ffprobe_reads_the_display_sets(tmp_path):
    picture = render("Hello", (320, 180))
    out = subtitle_file(tmp_path / "probe.ts", (320, 180), (0.5, picture), (1.5, None))
    frames = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "s", "-show_frames", "-of", "json", str(out)],
        capture_output=True, text=True, check=True, timeout=60).stdout)["frames"]
    assert [(round(float(f["pts_time"]) - float(frames[0]["pts_time"]), 2), f["num_rects"])
            for f in frames] == [(0.0, 0), (0.5, 1), (1.5, 0)]


def _pts_of(packets: bytes) -> float:
    from exstreamtv.streaming.ts_fields import payload_start, read_pts
    start = payload_start(bytearray(packets))
    assert start is not None
    return read_pts(packets, start + 9) / 90000


def test_late_display_sets_are_put_ahead_of_the_clock():
    """A screen drawn after its time (a busy machine) goes out a moment ahead of the
    output clock, never behind it (ffmpeg's demuxer moves such a subtitle onto the PCR)
    nor at the PTS of another display set; one whose whole time has passed is dropped."""
    clock = {"now": 0.0}

    async def run() -> list[list[bytes]]:
        track = DvbTextTrack(lambda: clock["now"], lambda: 0x100, lambda: 10.0)
        track.add([Cue(0.0, 1.0, "gone"), Cue(2.0, 6.0, "late"), Cue(8.0, 9.0, "on time")],
                  10.0, 30.0)
        assert track._drawing is not None
        await track._drawing  # everything drawn (all within the horizon)
        rounds = []
        for now in (13.0, 17.2):  # "gone" and "late" are behind; then "late" is over
            clock["now"] = now
            rounds.append(track.due())
        return rounds

    first, second = asyncio.run(run())
    times = [_pts_of(p) for p in first]
    # "gone" (10.04-11.0) is dropped, its clearing is sent ahead of the clock; "late"
    # (12.0-16.0) is shown from just after 13.0, not at 12.0.
    assert len(first) == 2 and all(t >= 13.1 - 1e-3 for t in times), times
    assert times[1] - times[0] >= 0.04 - 1e-3
    # The clearing of "late" (16.0) is behind the clock at 17.2: sent just ahead of it;
    # "on time" (18.0) keeps its time, and its clearing (19.0) is not due yet.
    assert [round(_pts_of(p), 2) for p in second] == [17.3, 18.0]


def test_an_items_first_screens_are_drawn_before_it_airs(monkeypatch):
    """When an item's ffmpeg starts (seconds before it airs), the screens of its first
    seconds are drawn at once; when it airs they are sent without being drawn again, so a
    busy machine does not make them late."""
    drawn: list[str] = []
    real = dvb_text.render

    def render_spy(text: str, display: tuple[int, int]) -> SubtitlePicture | None:
        drawn.append(text)
        return real(text, display)

    monkeypatch.setattr(dvb_text, "render", render_spy)
    clock: dict[str, float | None] = {"now": None}
    cues = [Cue(1.0, 2.0, "first"), Cue(3.0, 4.0, "second"), Cue(30.0, 31.0, "much later")]

    async def run() -> tuple[list[str], int]:
        track = DvbTextTrack(lambda: clock["now"], lambda: 0x100, lambda: 10.0)

        async def read() -> list[Cue]:
            return cues

        reading = asyncio.get_running_loop().create_task(read())
        track.prepare(reading, (1280, 720))
        await reading
        await asyncio.sleep(0)  # the reading's callbacks have run
        assert track._predrawing
        await asyncio.gather(*track._predrawing)
        early = list(drawn)
        clock["now"] = 10.0  # on air
        track.add(cues, 10.0, 60.0)
        assert track._drawing is not None
        await track._drawing
        return early, len(track._due)

    early, due = asyncio.run(run())
    assert early == ["first", "second"]
    assert drawn == ["first", "second", "much later"]  # the early ones not drawn again
    assert due == 6  # each screen and its clearing
