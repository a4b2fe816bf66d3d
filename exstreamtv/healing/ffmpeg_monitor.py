"""FFmpegAIMonitor (spec 6.2): progress, error classification, health and prediction.

ffmpeg runs with ``-stats -stats_period 1 -loglevel level+warning``, so every second it
prints a progress line (``frame= .. fps= .. bitrate= .. dup= .. drop= .. speed=..x``)
and its warnings and errors with a ``[level]`` prefix. The monitor parses both per
channel: progress feeds :class:`ChannelHealthMetrics` (a score 0..1 from speed, errors
and stalls); errors are classified with the spec's table (plus the types met in
practice); a falling speed under 1.0x produces a :class:`FailurePrediction` of a stall
before viewers see one; no output for ``stall_seconds`` is a stall.

Lines that match nothing (another language, another format) are ignored: the monitor
never raises on input.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class ErrorType(StrEnum):
    """Classified ffmpeg errors (spec table first)."""

    CONNECTION_TIMEOUT = "CONNECTION_TIMEOUT"
    HTTP_ERROR = "HTTP_ERROR"
    CODEC_ERROR = "CODEC_ERROR"
    HARDWARE_ERROR = "HARDWARE_ERROR"
    MEMORY_ERROR = "MEMORY_ERROR"
    NETWORK_ERROR = "NETWORK_ERROR"
    INPUT_NOT_FOUND = "INPUT_NOT_FOUND"
    INVALID_DATA = "INVALID_DATA"


class DeviceFailure(StrEnum):
    """How a hardware encoder failed (the kinds of HARDWARE_ERROR)."""

    DEVICE_OPEN = "device_open"  # the device node could not be opened
    NO_DEVICE = "no_device"  # no capable device, or the encoder is not in this ffmpeg
    SESSION_LIMIT = "session_limit"  # the GPU refused another encode session
    DEVICE_MEMORY = "device_memory"  # out of memory on the device
    DRIVER_INIT = "driver_init"  # the driver or its library could not be initialised
    ENCODER_OPEN = "encoder_open"  # the encoder refused to open
    #: the device cannot tone-map HDR (no OpenCL device, a driver without HDR): the
    #: encoder may be fine; the channel tone-maps on the CPU instead
    TONEMAP = "tonemap"


@dataclass(frozen=True)
class ErrorRule:
    """One row of the classification table, with the probable cause it stands for."""

    type: ErrorType
    pattern: re.Pattern[str]
    severity: str  # ERROR | CRITICAL
    recoverable: bool
    cause: str
    device: DeviceFailure | None = None


def _rx(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


def _hw(device: DeviceFailure, pattern: str, cause: str) -> ErrorRule:
    return ErrorRule(ErrorType.HARDWARE_ERROR, _rx(pattern), "ERROR", True, cause, device)


#: Hardware failures, from the messages ffmpeg prints when a device really fails
#: (libavutil/hwcontext_*.c, libavcodec/nvenc.c, qsvenc.c, vaapi_encode.c, fftools).
#: A line that merely names an encoder (``[h264_vaapi @ 0x..] Driver does not support
#: some wanted packed headers``) matches none of them. The catalogue of real lines is
#: tests/data/ffmpeg_stderr/hardware.yaml.
HARDWARE_RULES: tuple[ErrorRule, ...] = (
    # First: the OpenCL device is set up for tone mapping only, so its failure (followed
    # by a generic "Device creation failed") is the tone mapping's, not the encoder's.
    # hwcontext_opencl.c, vf_tonemap_vaapi.c and vf_tonemap_opencl.c (ffmpeg 5.1).
    _hw(DeviceFailure.TONEMAP, r"Failed to get (number|list) of OpenCL platforms|"
        r"No matching devices found|More than one matching device found|"
        r"Failed to create OpenCL (context|command queue)|No image support in OpenCL driver|"
        r"Failed to set value 'opencl=|VAAPI driver doesn't support HDR|"
        r"Failed to query HDR caps|No mastering display data from input|"
        r"unsupported transfer function characteristic|unsupported format in tonemap_opencl|"
        r"No such filter: 'tonemap_\w+'",
        "the device cannot tone-map HDR here (the encoder may still work)"),
    _hw(DeviceFailure.SESSION_LIMIT, r"OpenEncodeSessionEx failed|"
        r"incompatible client key|too many (concurrent )?(encode )?sessions",
        "the GPU refused another encode session (consumer cards allow only a few)"),
    _hw(DeviceFailure.DEVICE_MEMORY, r"CUDA_ERROR_OUT_OF_MEMORY|out of (video|device|gpu) memory|"
        r"resource allocation failed|failed to allocate (a )?(hw|hardware|surface)|"
        r"(CreateBitstreamBuffer|CreateInputBuffer|RegisterResource) failed: out of memory",
        "the device ran out of memory"),
    _hw(DeviceFailure.DRIVER_INIT, r"Failed to initiali[sz]e VAAPI connection|"
        r"No VA display found|vaInitialize failed|Cannot load (libcuda|libnvidia-encode|nvcuda)|"
        r"Could not dynamically load CUDA|Error (initializing|creating) an? (internal )?MFX session|"
        r"Driver does not support the required nvenc API version|"
        r"cu(Init|CtxCreate)\S* failed|Failed creating CUDA context",
        "the GPU driver (or its library) could not be initialised"),
    _hw(DeviceFailure.NO_DEVICE, r"No (NVENC )?capable devices? found|No device available for "
        r"(en|de)coder|Unknown encoder '\w*(nvenc|vaapi|qsv|videotoolbox|amf|v4l2m2m)\w*'",
        "no device can run this encoder here"),
    _hw(DeviceFailure.DEVICE_OPEN, r"Device creation failed|Cannot open (the )?(DRM )?"
        r"(render node|device)|Failed to (open|create) (the )?(hardware|hw) device|"
        r"Hardware device setup failed",
        "the hardware device could not be opened"),
    _hw(DeviceFailure.ENCODER_OPEN, r"Error while opening encoder|InitializeEncoder failed|"
        r"Could not open encoder before EOF",
        "the encoder refused to open with these settings or on this device"),
)

#: The spec's error classification table (after the hardware rows), then rows added
#: from real ffmpeg output.
ERROR_RULES: tuple[ErrorRule, ...] = (
    *HARDWARE_RULES,
    ErrorRule(ErrorType.HTTP_ERROR, _rx(r"http error [45]\d\d|server returned [45]\d\d|"
                                        r"\b40[13] (forbidden|unauthori[sz]ed)"), "ERROR", True,
              "the source refused the request (an expired URL or token, or a server error)"),
    ErrorRule(ErrorType.CONNECTION_TIMEOUT, _rx(r"connection timed out|timed? ?out"), "ERROR",
              True, "the source did not answer in time"),
    ErrorRule(ErrorType.CODEC_ERROR, _rx(r"decoder .*not found|unknown (en|de)coder|"
                                         r"codec not (currently )?supported|no decoder found|"
                                         r"could not find codec"), "CRITICAL", False,
              "this ffmpeg cannot decode the item (a codec it was built without)"),
    ErrorRule(ErrorType.MEMORY_ERROR, _rx(r"out of memory|cannot allocate memory|"
                                          r"allocation failed"), "CRITICAL", False,
              "the host ran out of memory"),
    ErrorRule(ErrorType.NETWORK_ERROR, _rx(r"connection (reset|refused)|network is unreachable|"
                                           r"broken pipe|end of file while"), "ERROR", True,
              "the network connection to the source broke"),
    ErrorRule(ErrorType.INPUT_NOT_FOUND, _rx(r"no such file or directory|does not exist"),
              "ERROR", True, "the item's file or URL is gone"),
    ErrorRule(ErrorType.INVALID_DATA, _rx(r"invalid data found|moov atom not found|"
                                          r"error while decoding|corrupt"), "ERROR", True,
              "the item's data is damaged"),
)

_PROGRESS_FIELDS = re.compile(r"(frame|fps|bitrate|speed|drop|dup|time|size)=\s*(\S+)")
_HTTP_STATUS = re.compile(r"\b([45]\d\d)\b")
_LEVEL_PREFIX = re.compile(r"^\[(warning|error|fatal|panic)\]", re.IGNORECASE)
#: ffmpeg's ``-loglevel level+`` tag anywhere in a line (after ``[ctx @ 0x..]`` prefixes).
_LEVEL_TAG = re.compile(r"\[(trace|debug|verbose|info|warning|error|fatal|panic)\]")
_QUIET_LEVELS = frozenset({"trace", "debug", "verbose", "info", "warning"})


@dataclass(frozen=True)
class ProgressSample:
    """One ``-stats`` line."""

    frame: int | None
    fps: float | None
    bitrate_kbps: float | None
    speed: float | None
    drop: int
    dup: int
    out_time: float | None
    at: float


@dataclass(frozen=True)
class FFmpegError:
    """A classified ffmpeg error line."""

    type: ErrorType
    severity: str
    recoverable: bool
    line: str
    channel: int | None
    http_status: int | None = None
    at: float = field(default_factory=time.time)
    cause: str = ""
    device: DeviceFailure | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type.value
        data["device"] = self.device.value if self.device else None
        return data


@dataclass
class ChannelHealthMetrics:
    """A channel's ffmpeg health; ``score`` 0..1 compared against the threshold."""

    channel: int
    speed: float | None = None
    fps: float | None = None
    frames: int = 0
    drops: int = 0
    dups: int = 0
    bitrate_kbps: float | None = None
    errors_recent: int = 0
    stalls_recent: int = 0
    last_output: float | None = None
    score: float = 1.0
    healthy: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FailurePrediction:
    """A failure expected soon, with the evidence and a confidence 0..1."""

    channel: int
    failure: str  # stall
    confidence: float
    reason: str
    speeds: tuple[float, ...]
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_progress(line: str, at: float | None = None) -> ProgressSample | None:
    """A :class:`ProgressSample` from a stats line, or None for any other line."""
    if "frame=" not in line and "size=" not in line:
        return None
    fields = dict(_PROGRESS_FIELDS.findall(line))
    if "time" not in fields and "frame" not in fields:
        return None

    def num(key: str, suffix: str = "") -> float | None:
        raw = fields.get(key, "").removesuffix(suffix)
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if math.isfinite(value) else None  # "frame=1111...1" is garbage

    out_time = None
    if re.fullmatch(r"\d+:\d\d:\d\d(\.\d+)?", fields.get("time", "")):
        h, m, s = fields["time"].split(":")
        out_time = int(h) * 3600 + int(m) * 60 + float(s)
    frame = num("frame")
    return ProgressSample(
        frame=int(frame) if frame is not None else None, fps=num("fps"),
        bitrate_kbps=num("bitrate", "kbits/s"), speed=num("speed", "x"),
        drop=int(num("drop") or 0), dup=int(num("dup") or 0), out_time=out_time,
        at=time.time() if at is None else at)


def line_level(line: str) -> str | None:
    """ffmpeg's own level tag of ``line`` (``-loglevel level+``), None when untagged."""
    found = _LEVEL_TAG.search(line[:200])
    return found.group(1) if found else None


def classify_error(line: str, channel: int | None = None) -> FFmpegError | None:
    """Classify an ffmpeg line with the table; None when it is no known error.

    A line ffmpeg itself tags as a warning (or quieter) is never a hardware failure,
    whatever it mentions: ``[h264_vaapi @ 0x..] [warning] Driver does not support some
    wanted packed headers`` is a GPU at work, not a GPU failing. (Other types keep
    warnings: ffmpeg prints ``HTTP error 403 Forbidden`` as a warning.)
    """
    quiet = line_level(line) in _QUIET_LEVELS
    for rule in ERROR_RULES:
        if quiet and rule.device is not None:
            continue
        if rule.pattern.search(line):
            status = None
            if rule.type is ErrorType.HTTP_ERROR:
                found = _HTTP_STATUS.search(line)
                status = int(found.group(1)) if found else None
            return FFmpegError(rule.type, rule.severity, rule.recoverable, line, channel, status,
                               cause=rule.cause, device=rule.device)
    return None


#: Which error decides when a tail holds several: the first hardware failure, else the
#: first error that cannot be retried, else the first one.
def decisive_error(lines: Iterable[str], channel: int | None = None) -> FFmpegError | None:
    """The error that explains a failed ffmpeg, from its stderr tail (None: no known error)."""
    errors = [e for e in (classify_error(line, channel) for line in lines) if e is not None]
    for wanted in (lambda e: e.device is not None, lambda e: not e.recoverable, lambda e: True):
        found = next((e for e in errors if wanted(e)), None)
        if found is not None:
            return found
    return None


def device_failure(lines: Iterable[str]) -> FFmpegError | None:
    """The hardware failure in a stderr tail, or None when the device did not fail.

    For a hardware encoder that exited: a tail with no device failure (a warning
    naming the encoder, a damaged input, a 403) is no reason to leave the GPU.
    """
    found = decisive_error(lines)
    return found if found is not None and found.device is not None else None


@dataclass
class _ChannelState:
    speeds: deque[float] = field(default_factory=lambda: deque(maxlen=10))
    errors: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    stalls: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    last: ProgressSample | None = None
    last_output: float | None = None
    stalled: bool = False


class FFmpegAIMonitor:
    """Per-channel progress, errors, health scores, predictions and stall detection."""

    def __init__(self, health_threshold: float = 0.8, stall_seconds: float = 4.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.health_threshold = health_threshold
        self.stall_seconds = stall_seconds
        self.clock = clock
        self._state: dict[int, _ChannelState] = {}

    def _of(self, channel: int) -> _ChannelState:
        return self._state.setdefault(channel, _ChannelState())

    def forget(self, channel: int) -> None:
        self._state.pop(channel, None)

    def on_line(self, channel: int, line: str) -> FFmpegError | ProgressSample | None:
        """Feed one stderr line; returns what it was (progress, an error) or None."""
        now = self.clock()
        state = self._of(channel)
        sample = parse_progress(line, now)
        if sample is not None:
            state.last = sample
            state.last_output = now
            state.stalled = False
            if sample.speed is not None:
                state.speeds.append(sample.speed)
            return sample
        is_error = _LEVEL_PREFIX.match(line) is not None or "error" in line.lower()
        error = classify_error(line, channel)
        if error is None and not is_error:
            return None
        if error is not None or line.lower().startswith(("[error]", "[fatal]")):
            state.errors.append(now)
        return error

    def note_output(self, channel: int) -> None:
        """The channel produced output now (bytes reached the buffer)."""
        state = self._of(channel)
        state.last_output = self.clock()
        state.stalled = False

    def reset(self, channel: int) -> None:
        """A fresh ffmpeg started: forget speeds of the previous one."""
        state = self._of(channel)
        state.speeds.clear()
        state.last_output = self.clock()
        state.stalled = False

    def check_stall(self, channel: int, waiting: float | None) -> float | None:
        """Seconds without output when the channel newly counts as stalled, else None.

        ``waiting`` is how long the pipeline has been waiting for ffmpeg's next bytes
        (None while it is not waiting: paced output is no stall).
        """
        state = self._of(channel)
        if waiting is None or waiting < self.stall_seconds:
            state.stalled = False
            return None
        if state.stalled:
            return None
        state.stalled = True
        state.stalls.append(self.clock())
        return waiting

    def metrics(self, channel: int) -> ChannelHealthMetrics:
        """The channel's :class:`ChannelHealthMetrics` now.

        score = 0.5 * speed term + 0.3 * error term + 0.2 * stall term, where the speed
        term is min(speed, 1), the error term 1 - errors in the last minute / 5 (floor 0)
        and the stall term 1 - stalls in the last five minutes / 2 (floor 0).
        """
        state = self._of(channel)
        now = self.clock()
        errors = sum(1 for t in state.errors if now - t <= 60)
        stalls = sum(1 for t in state.stalls if now - t <= 300)
        last = state.last
        speed = last.speed if last else None
        speed_term = 1.0 if speed is None else max(0.0, min(speed, 1.0))
        if state.stalled:
            speed_term = 0.0
        score = (0.5 * speed_term + 0.3 * max(0.0, 1 - errors / 5)
                 + 0.2 * max(0.0, 1 - stalls / 2))
        return ChannelHealthMetrics(
            channel=channel, speed=speed, fps=last.fps if last else None,
            frames=(last.frame or 0) if last else 0, drops=last.drop if last else 0,
            dups=last.dup if last else 0, bitrate_kbps=last.bitrate_kbps if last else None,
            errors_recent=errors, stalls_recent=stalls, last_output=state.last_output,
            score=round(score, 3), healthy=score >= self.health_threshold)

    def predict(self, channel: int) -> FailurePrediction | None:
        """A stall prediction when speed is under 1.0x and falling.

        Needs three speed samples, the latest under 1.0 and the run non-increasing with
        a net fall. confidence = 0.4 + 1.5 * (1 - speed) + min(0.3, 10 * fall per
        sample), capped at 0.99: a channel at 0.8x and losing 0.03x a second scores 0.99;
        one at 0.97x barely falling scores about 0.45.
        """
        speeds = list(self._of(channel).speeds)[-5:]
        if len(speeds) < 3 or speeds[-1] >= 1.0:
            return None
        falling = all(b <= a for a, b in itertools.pairwise(speeds))
        fall = (speeds[0] - speeds[-1]) / (len(speeds) - 1)
        if not falling or fall <= 0:
            return None
        confidence = min(0.99, 0.4 + 1.5 * (1.0 - speeds[-1]) + min(0.3, 10 * fall))
        return FailurePrediction(channel, "stall", round(confidence, 3),
                                 f"speed {speeds[-1]:.2f}x and falling "
                                 f"({fall:.3f}x per second)", tuple(speeds))

    def channels(self) -> list[int]:
        return sorted(self._state)
