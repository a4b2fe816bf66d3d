"""The TS splicer on real ffmpeg output: counters and timestamps continue across segments."""

from __future__ import annotations

import itertools
import subprocess

from exstreamtv.ffmpeg.command import MediaInput, OutputProfile, ServiceInfo, build_command
from exstreamtv.ffmpeg.presets import SOFTWARE
from exstreamtv.streaming.ts import TSSplicer
from exstreamtv.streaming.ts_fields import (
    MASK33,
    PACKET_SIZE,
    read_pcr,
    read_pts,
    unwrap,
    write_pcr,
    write_pts,
)
from tests.helpers import ffmpeg_bin

PROFILE = OutputProfile(width=320, height=180, fps=25, video_bitrate_kbps=300,
                        keyframe_seconds=1.0, audio_bitrate_kbps=64)


def segment(clip, seconds: float) -> bytes:
    argv = build_command(ffmpeg_bin(), MediaInput(str(clip), 0.0, seconds, 0, 1), PROFILE,
                         SOFTWARE, ServiceInfo(1, "Test"))
    return subprocess.run(argv, capture_output=True, check=True).stdout


def parse(ts: bytes):
    """(pid, cc, has_payload, pes_dts) per packet, from raw bytes."""
    out = []
    for i in range(0, len(ts), PACKET_SIZE):
        p = ts[i:i + PACKET_SIZE]
        pid = ((p[1] & 0x1F) << 8) | p[2]
        afc = (p[3] >> 4) & 3
        start = 5 + p[4] if afc & 2 else 4
        dts = None
        if p[1] & 0x40 and afc & 1 and p[start:start + 3] == b"\x00\x00\x01" and pid not in (0, 0x11, 0x1000):
            flags = p[start + 7] >> 6
            if flags == 3:
                dts = read_pts(p, start + 14)
            elif flags == 2:
                dts = read_pts(p, start + 9)
        out.append((pid, p[3] & 0x0F, bool(afc & 1), dts))
    return out


def test_timestamp_codecs_round_trip():
    buf = bytearray(6)
    for value in (0, 1, 90000, MASK33, 123456789):
        buf[0] = 0x21
        write_pts(buf, 0, value)
        assert read_pts(buf, 0) == value & MASK33
    for value in (0, 299, 27_000_000 * 3600 + 17):
        write_pcr(buf, 0, value)
        assert read_pcr(buf, 0) == value
    assert unwrap(5, (1 << 33) - 10) == (1 << 33) + 5
    assert unwrap((1 << 33) - 10, 5) == -10


def test_two_segments_join_continuously(clips):
    splicer = TSSplicer()
    out = bytearray()
    pieces = []
    for clip in sorted(clips.glob("*.mp4"))[:2]:
        splicer.start_segment()
        data = segment(clip, 2.0)
        # Feed in odd-sized chunks, as a pipe delivers them.
        for i in range(0, len(data), 5000):
            got = splicer.feed(data[i:i + 5000])
            pieces += got
            out += b"".join(p.data for p in got)
        for p in splicer.flush_hold():
            out += p.data
    packets = parse(bytes(out))
    last_cc: dict[int, int] = {}
    for pid, cc, payload, _ in packets:
        if payload:
            if pid in last_cc:
                assert cc == (last_cc[pid] + 1) % 16, f"pid {pid}: cc {cc} after {last_cc[pid]}"
            last_cc[pid] = cc
    dts_by_pid: dict[int, list[int]] = {}
    for pid, _, _, dts in packets:
        if dts is not None:
            dts_by_pid.setdefault(pid, []).append(dts)
    assert splicer.video_pid in dts_by_pid
    for pid, values in dts_by_pid.items():
        assert all(b > a for a, b in itertools.pairwise(values)), f"pid {pid}"
        gaps = [b - a for a, b in itertools.pairwise(values)]
        assert max(gaps) < 0.5 * 90000, f"pid {pid}: gap {max(gaps) / 90000:.3f}s"
        assert (values[-1] - values[0]) / 90000 > 3.5  # two 2-second segments
    keyframes = [p for p in pieces if p.keyframe]
    assert len(keyframes) >= 4  # 1-second GOPs
    for piece in keyframes:
        first_pid = ((piece.data[1] & 0x1F) << 8) | piece.data[2]
        assert first_pid in (0, 0x11, 0x1000), "a keyframe piece starts with PSI (PAT/SDT/PMT)"
    # And a real decoder agrees.
    proc = subprocess.run([ffmpeg_bin(), "-v", "error", "-f", "mpegts", "-i", "pipe:0", "-f", "null",
                           "-"], input=bytes(out), capture_output=True, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr.decode()


def test_video_continues_frame_after_frame_when_audio_runs_longer(clips):
    """Segments of 1.03 s: the encoder ends audio up to a frame after the video. The next
    segment's video follows the last frame exactly; its overlapping first audio frames
    are dropped, so audio steps at most one and a half frames and never goes back."""
    splicer = TSSplicer()
    out = bytearray()
    for clip in [*sorted(clips.glob("*.mp4")), *sorted(clips.glob("*.mp4"))][:4]:
        splicer.start_segment()
        out += b"".join(p.data for p in splicer.feed(segment(clip, 1.03)))
        out += b"".join(p.data for p in splicer.flush_hold())
    dts_by_pid: dict[int, list[int]] = {}
    for pid, _, _, dts in parse(bytes(out)):
        if dts is not None:
            dts_by_pid.setdefault(pid, []).append(dts)
    video = dts_by_pid.pop(splicer.video_pid)
    assert {b - a for a, b in itertools.pairwise(video)} == {3600}  # 25 fps, no hole
    (audio,) = dts_by_pid.values()
    steps = [b - a for a, b in itertools.pairwise(audio)]
    assert min(steps) > 0 and max(steps) <= 1.5 * 1920, max(steps)  # 1024 samples at 48 kHz
    # no drift: over four segments the streams span the same time within three audio frames
    assert abs((audio[-1] - audio[0]) - (video[-1] - video[0])) < 3 * 1920


def test_a_lighter_preset_never_shows_two_pictures_at_once(clips, tmp_path):
    """From a segment with B-frames (its last decoded frame is shown after its DTS) to one
    without (x264 "ultrafast", what a starved host switches to): placed by DTS alone, the
    new first picture landed on the time of a picture already shown, and an HLS client
    remuxing the stream reported "Non-monotonous DTS"."""
    from dataclasses import replace

    ultrafast = replace(SOFTWARE, options=(("-preset", "ultrafast"),
                                           *(o for o in SOFTWARE.options if o[0] != "-preset")))
    splicer = TSSplicer()
    out = bytearray()
    clip = sorted(clips.glob("*.mp4"))[0]
    for preset in (SOFTWARE, ultrafast, SOFTWARE):
        splicer.start_segment()
        argv = build_command(ffmpeg_bin(), MediaInput(str(clip), 0.0, 2.0, 0, 1), PROFILE,
                             preset, ServiceInfo(1, "Test"))
        data = subprocess.run(argv, capture_output=True, check=True).stdout
        for i in range(0, len(data), 5000):
            out += b"".join(p.data for p in splicer.feed(data[i:i + 5000]))
        out += b"".join(p.data for p in splicer.flush_hold())
    path = tmp_path / "spliced.ts"
    path.write_bytes(bytes(out))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=pts,dts", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True).stdout
    frames = [(int(pts), int(dts)) for pts, dts, *_ in (line.split(",") for line in probe.split())]
    has_b_frames = any(pts != dts for pts, dts in frames)
    assert has_b_frames, "the first segment has no B-frames: the test proves nothing"
    shown = [pts for pts, _ in frames]
    assert len(set(shown)) == len(shown), "two pictures share a presentation time"
    decoded = [dts for _, dts in frames]
    assert all(b > a for a, b in itertools.pairwise(decoded)), "DTS did not increase"
    remux = subprocess.run([ffmpeg_bin(), "-v", "warning", "-i", str(path), "-c", "copy",
                            "-f", "mpegts", "-"], capture_output=True, check=False)
    assert b"Non-monotonous" not in remux.stderr, remux.stderr.decode(errors="replace")
