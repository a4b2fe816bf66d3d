"""MPEG-TS splicing: successive ffmpeg outputs joined into one continuous transport stream.

Each item of a channel is transcoded by its own ffmpeg process into MPEG-TS with the
same profile, so the program map is the same every time. :class:`TSSplicer` rewrites
the packets of each new segment so that

* continuity counters continue per PID (no "continuity check failed" at a boundary),
* PTS, DTS and PCR continue where the previous segment ended (monotonic timestamps,
  no gap a player would stall on): the new segment is placed so that its *video*
  continues frame after frame; its other streams keep their offset to the video (A/V
  sync as encoded), and the few audio frames at its start that would overlap the
  previous segment's last ones (an encoder cuts audio in whole frames, so audio runs
  up to one frame longer than the video) are dropped, leaving a step of at most one
  and a half frames; a PES of several frames (ffmpeg packs tiny ones, such as the
  silence of an error screen) is not dropped but played that much later, and
* subtitle streams (DVB subtitles, teletext) are sparse: a segment may carry none of
  their packets for minutes, so they neither hold a segment's start nor place it; their
  timestamps are moved with the segment's video, except a subtitle PES that comes after
  the segment's last picture and lies beyond it (ffmpeg flushes the clearing of a
  subtitle that outlasts the item at the end): it is placed on the segment's last
  picture (not on the next segment's first, where that one's own first cue may lie), and
* the output is cut into pieces at video keyframes (with the PAT/PMT that precede
  them), so a viewer who joins a running channel starts on a decodable picture. A
  stream without video (a radio channel) is cut at an audio PES start about once a
  second instead: every AAC frame decodes on its own.

Timestamps are kept unwrapped internally and written modulo 2**33.
"""

from __future__ import annotations

from dataclasses import dataclass

from exstreamtv.streaming.ts_fields import (
    NO_PES_HEADER,
    PACKET_SIZE,
    PCR_HZ,
    PTS_HZ,
    SYNC_BYTE,
    adts_frames,
    descriptor_tags,
    payload_start,
    pes_dts,
    read_pcr,
    read_pts,
    unwrap,
    write_pcr,
    write_pts,
)

VIDEO_STREAM_TYPES = frozenset({0x01, 0x02, 0x10, 0x1B, 0x24, 0x42, 0xEA})
#: PMT descriptor tags that mark a private-data stream as subtitles (DVB subtitling, teletext).
SPARSE_DESCRIPTORS = frozenset({0x56, 0x59})
DVB_SUBTITLING = 0x59
_HOLD_LIMIT = 4000  # packets held at a segment start while looking for first timestamps
_AUDIO_ACCESS_TICKS = PTS_HZ  # a stream without video: an access point every second


@dataclass(frozen=True)
class Piece:
    """A run of output packets; ``keyframe`` when it starts with PSI + a video keyframe."""

    data: bytes
    keyframe: bool
    clock: float | None  # the last PCR in it, in seconds of the output timeline


class TSSplicer:
    """Rewrites successive MPEG-TS segments into one continuous stream (see module doc)."""

    def __init__(self) -> None:
        self._cc: dict[int, int] = {}
        self._tables: dict[int, bytes] = {}  # latest PAT and PMT packets, by pid
        self._pmt_pids: set[int] = set()
        self.video_pid: int | None = None
        self.sparse_pids: set[int] = set()  # subtitle streams (see module doc)
        self.dvb_subtitle_pid: int | None = None
        self._delta = 0  # 90 kHz ticks added to every timestamp of the current segment
        self._last_in: dict[int, int] = {}  # unwrapped input DTS per pid, this segment
        self._last_out: dict[int, int] = {}  # output DTS per pid
        self._first_out: int | None = None  # the first output DTS of all
        self._interval: dict[int, int] = {}
        self._clock: int | None = None  # last output PCR, 27 MHz
        self._last_pcr_in: int | None = None
        self._holding = False
        self._hold: list[bytearray] = []
        self._first_in: dict[int, int] = {}
        self._first_pts_in: dict[int, int] = {}  # first input PTS per pid, this segment
        self._pts_out: dict[int, int] = {}  # the latest output PTS per pid (display order)
        self._trim: dict[int, int] = {}  # pid -> output DTS its next frame must reach
        self._dropping: set[int] = set()  # pids whose current PES is being dropped
        self._video_anchored = False  # this segment was placed by its video
        self._shift: dict[int, int] = {}  # extra ticks for a pid of this segment
        self._span: dict[int, int] = {}  # ticks the last PES of a pid lasts, when known
        self._last_access: int | None = None  # output DTS of the last audio-only access point
        self._remainder = b""
        self.segments = 0
        self.packets = 0

    # -- segments --------------------------------------------------------------

    def start_segment(self) -> None:
        """The next bytes come from a new ffmpeg process."""
        self._remainder = b""
        self._last_in.clear()
        self._last_pcr_in = None
        self.segments += 1
        self._first_in = {}
        self._first_pts_in = {}
        self._trim = {}
        self._dropping = set()
        self._video_anchored = False
        self._shift = {}
        self._hold = []
        self._holding = bool(self._last_out)

    @property
    def clock_seconds(self) -> float | None:
        """The output timeline position (last PCR written), in seconds."""
        return self._clock / PCR_HZ if self._clock is not None else None

    @property
    def start_seconds(self) -> float | None:
        """Where the output timeline begins (the first DTS written), in seconds."""
        return self._first_out / PTS_HZ if self._first_out is not None else None

    @property
    def end_seconds(self) -> float | None:
        """Where the output timeline ends so far (last DTS + one frame), in seconds."""
        if not self._last_out:
            return None
        ends = [self._end(p) for p in self._last_out if p not in self.sparse_pids]
        return max(ends) / PTS_HZ if ends else None

    @property
    def subtitle_seconds(self) -> float | None:
        """Where ffmpeg's own DVB subtitle stream has reached (its last PES), in seconds."""
        pid = self.dvb_subtitle_pid
        out = self._last_out.get(pid) if pid is not None else None
        return out / PTS_HZ if out is not None else None

    # -- feeding ---------------------------------------------------------------

    def feed(self, data: bytes) -> list[Piece]:
        """Rewrite ``data`` (any length) and return the finished pieces."""
        buf = self._remainder + data
        usable = len(buf) - len(buf) % PACKET_SIZE
        self._remainder = buf[usable:]
        pieces: list[Piece] = []
        current = bytearray()
        psi_run_start: int | None = None
        for offset in range(0, usable, PACKET_SIZE):
            pkt = bytearray(buf[offset : offset + PACKET_SIZE])
            if pkt[0] != SYNC_BYTE:
                continue  # not aligned; ffmpeg's output always is, so drop the packet
            if self._holding:
                self._hold.append(pkt)
                self._note_first(pkt)
                if not self._hold_complete():
                    continue
                held, self._hold, self._holding = self._hold, [], False
                self._begin_delta()
            else:
                held = [pkt]
            for p in held:
                if self._trimmed(p):
                    continue
                keyframe, psi = self._rewrite(p)
                if keyframe:
                    cut = psi_run_start if psi_run_start is not None else len(current)
                    if cut:
                        pieces.append(Piece(bytes(current[:cut]), False, self.clock_seconds))
                    current = current[cut:]
                    if psi_run_start is None:
                        current += self._program_tables()  # a joining viewer needs them first
                    if pieces or cut == 0:
                        pieces.append(Piece(b"", True, None))  # marker, merged below
                    psi_run_start = None
                if psi:
                    if psi_run_start is None:
                        psi_run_start = len(current)
                else:
                    psi_run_start = None
                current += p
        if current:
            pieces.append(Piece(bytes(current), False, self.clock_seconds))
        return _merge_markers(pieces)

    def flush_hold(self) -> list[Piece]:
        """At a segment's end: emit packets still held (a segment with too few packets)."""
        if not self._holding:
            return []
        self._holding = False
        if self.video_pid in self._last_out and self.video_pid not in self._first_in:
            # A segment that ended before its first picture (a seek past the real end
            # of a file): a stray audio frame alone would only push the audio ahead.
            self._hold = []
            return []
        self._begin_delta()
        held, self._hold = self._hold, []
        out = bytearray()
        for p in held:
            if self._trimmed(p):
                continue
            self._rewrite(p)
            out += p
        return [Piece(bytes(out), False, self.clock_seconds)] if out else []

    def inject(self, packets: bytes) -> bytes:
        """Packets made beside ffmpeg's (text subtitles drawn as DVB subtitles), already
        timed on the output timeline, with the continuity counters of their pid."""
        out = bytearray(packets)
        for at in range(0, len(out) - PACKET_SIZE + 1, PACKET_SIZE):
            pid = ((out[at + 1] & 0x1F) << 8) | out[at + 2]
            if (out[at + 3] >> 4) & 0x1:
                cc = (self._cc.get(pid, 15) + 1) & 0x0F
                self._cc[pid] = cc
                out[at + 3] = (out[at + 3] & 0xF0) | cc
        return bytes(out)

    # -- internals -------------------------------------------------------------

    def _note_first(self, pkt: bytearray) -> None:
        pid = ((pkt[1] & 0x1F) << 8) | pkt[2]
        if pid in self._first_in or not pkt[1] & 0x40:
            return
        start = payload_start(pkt)
        ts = pes_dts(pkt, start) if start is not None else None
        if ts is not None:
            self._first_in[pid] = ts
            if start is not None and pkt[start + 7] >> 6 in (2, 3):
                self._first_pts_in[pid] = read_pts(pkt, start + 9)

    def _hold_complete(self) -> bool:
        wanted = set(self._last_out) - self.sparse_pids
        return wanted.issubset(self._first_in) or len(self._hold) >= _HOLD_LIMIT

    def _begin_delta(self) -> None:
        """Place the new segment: its video right after the previous video (see module doc)."""
        candidates = {
            pid: self._end(pid) - first
            for pid, first in self._first_in.items()
            if pid in self._last_out and pid not in self.sparse_pids
        }
        if not candidates:
            return
        if self.video_pid in candidates:
            self._delta = max(candidates[self.video_pid], self._after_last_picture())
            self._video_anchored = True
            self._trim = {pid: self._end(pid)
                          for pid in candidates if pid != self.video_pid}
        else:
            self._delta = max(candidates.values())

    def _after_last_picture(self) -> int:
        """The least delta that shows the new segment's first picture after the previous
        segment's last one. Decode order alone is not enough: an encoder with B-frames
        shows its last decoded frame up to a few frames after its DTS, so a segment
        without them (a lighter preset) placed by DTS alone would show its first picture
        at the same instant as one already shown."""
        pid = self.video_pid
        first = self._first_pts_in.get(pid) if pid is not None else None
        shown = self._pts_out.get(pid) if pid is not None else None
        if first is None or shown is None or pid is None:
            return 0
        return shown + self._interval.get(pid, 3000) - first

    def _end(self, pid: int) -> int:
        """Where stream ``pid`` ends in the output: its last PES plus that PES's length
        (counted for AAC, else the usual step between PES)."""
        span = self._span.get(pid)
        return self._last_out[pid] + (span if span is not None else self._interval.get(pid, 3000))

    def _trimmed(self, pkt: bytearray) -> bool:
        """True for a packet of a leading frame that would overlap the previous segment."""
        if not self._trim and not self._dropping:
            return False
        pid = ((pkt[1] & 0x1F) << 8) | pkt[2]
        if not pkt[1] & 0x40:  # the rest of a PES: dropped with its start
            return pid in self._dropping
        floor = self._trim.get(pid)
        start = payload_start(pkt) if floor is not None else None
        dts = pes_dts(pkt, start) if start is not None else None
        if floor is None or dts is None or start is None:
            self._dropping.discard(pid)
            return False
        out = dts + self._delta
        frames, frame = adts_frames(pkt, start)
        if out < floor - (frame or self._interval.get(pid, 3000)) // 2:
            if frames == 1:
                self._dropping.add(pid)
                return True
            # Several frames in one PES (ffmpeg packs tiny ones, e.g. silence): dropping
            # it would leave a hole; play this segment's stream that much later instead.
            self._shift[pid] = floor - out
        self._dropping.discard(pid)
        del self._trim[pid]
        return False

    def _rewrite(self, pkt: bytearray) -> tuple[bool, bool]:
        """Rewrite one packet in place; returns (access point start, is PSI)."""
        self.packets += 1
        pid = ((pkt[1] & 0x1F) << 8) | pkt[2]
        pusi = bool(pkt[1] & 0x40)
        afc = (pkt[3] >> 4) & 0x3
        if afc & 0x1:  # has payload: continue the counter
            cc = (self._cc.get(pid, 15) + 1) & 0x0F
            self._cc[pid] = cc
            pkt[3] = (pkt[3] & 0xF0) | cc
        keyframe = False
        payload = 4
        if afc & 0x2:
            af_len = pkt[4]
            payload = 5 + af_len
            if af_len > 0:
                flags = pkt[5]
                if flags & 0x10 and af_len >= 7:
                    self._rewrite_pcr(pkt)
                if flags & 0x40 and pusi and pid == self.video_pid:
                    keyframe = True
        if pid == 0 or pid in self._pmt_pids or pid == 0x11:
            if pusi and afc & 0x1:
                self._parse_psi(pid, pkt, payload)
                if pid != 0x11:
                    self._tables[pid] = bytes(pkt)
            return keyframe, True
        if pusi and afc & 0x1 and payload + 14 <= PACKET_SIZE:
            self._rewrite_pes(pid, pkt, payload)
            if self.video_pid is None and self._tables:
                keyframe = self._audio_access(pid)
        return keyframe, False

    def _audio_access(self, pid: int) -> bool:
        """Whether the PES just rewritten starts a piece of a stream without video."""
        out = self._last_out.get(pid)
        if out is None:
            return False
        if self._last_access is not None and 0 <= out - self._last_access < _AUDIO_ACCESS_TICKS:
            return False
        self._last_access = out
        return True

    def _program_tables(self) -> bytearray:
        """Copies of the latest PAT and PMT with the next continuity counters."""
        out = bytearray()
        for pid in sorted(self._tables):
            pkt = bytearray(self._tables[pid])
            cc = (self._cc.get(pid, 15) + 1) & 0x0F
            self._cc[pid] = cc
            pkt[3] = (pkt[3] & 0xF0) | cc
            out += pkt
        return out

    def _rewrite_pcr(self, pkt: bytearray) -> None:
        raw = read_pcr(pkt, 6)
        base_in = raw // 300
        ref = (self._last_pcr_in // 300) if self._last_pcr_in is not None else base_in
        unwrapped = unwrap(base_in, ref) * 300 + raw % 300
        self._last_pcr_in = unwrapped
        out = unwrapped + self._delta * 300
        self._clock = out if self._clock is None else max(self._clock, out)
        write_pcr(pkt, 6, out)

    def _rewrite_pes(self, pid: int, pkt: bytearray, start: int) -> None:
        if pkt[start] != 0 or pkt[start + 1] != 0 or pkt[start + 2] != 1:
            return
        if pkt[start + 3] in NO_PES_HEADER:
            return
        flags = pkt[start + 7] >> 6
        if flags not in (2, 3):
            return
        ref = self._last_in.get(pid)
        pts_in = read_pts(pkt, start + 9)
        pts = unwrap(pts_in, ref) if ref is not None else pts_in
        dts = pts
        if flags == 3:
            dts = unwrap(read_pts(pkt, start + 14), ref if ref is not None else pts)
        previous = self._last_out.get(pid)
        if ref is None and previous is not None and pid not in self.sparse_pids:
            # This stream's first PES of the segment (it may have come after the hold
            # ended): it must still start after where the stream ended. A stream other
            # than the video was trimmed to within half a frame of it instead.
            floor = self._end(pid)
            if pid != self.video_pid and self._video_anchored:
                floor = previous + 1
            if dts + self._delta + self._shift.get(pid, 0) < floor:
                self._delta = floor - dts - self._shift.get(pid, 0)
        delta = self._delta + self._shift.get(pid, 0)
        if pid in self.sparse_pids:
            delta = self._sparse_delta(dts, delta)
        write_pts(pkt, start + 9, pts + delta)
        self._pts_out[pid] = max(self._pts_out.get(pid, pts + delta), pts + delta)
        if flags == 3:
            write_pts(pkt, start + 14, dts + delta)
        out = dts + delta
        if previous is not None and 0 < out - previous <= PTS_HZ:
            self._interval[pid] = out - previous
        frames, frame = adts_frames(pkt, start)
        if frames is not None and frame is not None:
            self._span[pid] = frames * frame
        else:
            self._span.pop(pid, None)
        self._last_in[pid] = dts
        self._last_out[pid] = out
        if self._first_out is None:
            self._first_out = out

    def _sparse_delta(self, dts: int, delta: int) -> int:
        """``delta`` for a subtitle PES, or less for one beyond the picture (module doc)."""
        if self.video_pid not in self._last_out:
            return delta
        end = self._end(self.video_pid)
        return self._last_out[self.video_pid] - dts if dts + delta > end + PTS_HZ else delta

    def _parse_psi(self, pid: int, pkt: bytearray, start: int) -> None:
        pointer = pkt[start]
        sec = start + 1 + pointer
        if sec + 8 > PACKET_SIZE:
            return
        table_id = pkt[sec]
        length = ((pkt[sec + 1] & 0x0F) << 8) | pkt[sec + 2]
        end = min(sec + 3 + length - 4, PACKET_SIZE)
        if pid == 0 and table_id == 0x00:
            i = sec + 8
            while i + 4 <= end:
                program = (pkt[i] << 8) | pkt[i + 1]
                if program != 0:
                    self._pmt_pids.add(((pkt[i + 2] & 0x1F) << 8) | pkt[i + 3])
                i += 4
        elif table_id == 0x02 and pid in self._pmt_pids:
            info_len = ((pkt[sec + 10] & 0x0F) << 8) | pkt[sec + 11]
            i = sec + 12 + info_len
            while i + 5 <= end:
                stream_type = pkt[i]
                es_pid = ((pkt[i + 1] & 0x1F) << 8) | pkt[i + 2]
                es_len = ((pkt[i + 3] & 0x0F) << 8) | pkt[i + 4]
                if stream_type in VIDEO_STREAM_TYPES:
                    self.video_pid = es_pid
                elif stream_type == 0x06:
                    tags = descriptor_tags(pkt, i + 5, min(i + 5 + es_len, end))
                    if tags & SPARSE_DESCRIPTORS:
                        self.sparse_pids.add(es_pid)
                    if DVB_SUBTITLING in tags:
                        self.dvb_subtitle_pid = es_pid
                i += 5 + es_len


def _merge_markers(pieces: list[Piece]) -> list[Piece]:
    """Fold the empty keyframe markers into the piece that follows them."""
    out: list[Piece] = []
    mark = False
    for piece in pieces:
        if not piece.data:
            mark = mark or piece.keyframe
            continue
        out.append(Piece(piece.data, piece.keyframe or mark, piece.clock))
        mark = False
    return out
