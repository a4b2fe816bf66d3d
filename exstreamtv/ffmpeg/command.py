"""One pure function from (input, output profile, encoder preset) to an ffmpeg argv.

Every item and every error screen of a channel goes through :func:`build_command`, so all
of them come out with the same codecs, size, frame rate, sample rate, channel layout
and stream layout: MPEG-TS with one video stream (H.264 or HEVC, 8 or 10-bit), one
audio stream (AAC, AC-3 or E-AC-3) and, for a channel that sends subtitles as a stream,
one DVB subtitle stream (:mod:`exstreamtv.ffmpeg.dvb_subtitles`); or, for a radio channel
(``audio_only``), the audio stream alone: no picture is decoded or encoded, whatever the
input has. File names reach ffmpeg through
:func:`~exstreamtv.ffmpeg.escape.input_location` (never read as an option or a
protocol); filter arguments are escaped where they are built
(:mod:`exstreamtv.ffmpeg.escape`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exstreamtv.ffmpeg.dvb_subtitles import blank_input
from exstreamtv.ffmpeg.escape import drawtext_filter, input_location
from exstreamtv.ffmpeg.presets import EncoderPreset, VideoFormat
from exstreamtv.ffmpeg.tonemap import device_tonemap, hdr_tags, tonemap_chain
from exstreamtv.media.language import normalize_language

if TYPE_CHECKING:
    from exstreamtv.config.model import FFmpegConfig

CHANNEL_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


@dataclass(frozen=True)
class OutputProfile:
    """The one output format of a channel."""

    width: int = 1280
    height: int = 720
    fps: int = 30
    video_bitrate_kbps: int = 3000
    keyframe_seconds: float = 2.0
    audio_channels: int = 2
    audio_bitrate_kbps: int = 160
    sample_rate: int = 48000
    video_codec: str = "h264"
    bit_depth: int = 8
    audio_codec: str = "aac"
    #: A radio channel: one audio stream, no video stream at all.
    audio_only: bool = False
    #: The language of the DVB subtitle stream every command carries; None: no such stream.
    subtitle_language: str | None = None

    @classmethod
    def from_config(cls, cfg: FFmpegConfig) -> OutputProfile:
        return cls(
            width=cfg.video.width,
            height=cfg.video.height,
            fps=cfg.video.fps,
            video_bitrate_kbps=cfg.video.bitrate_kbps,
            keyframe_seconds=cfg.video.keyframe_seconds,
            audio_channels=cfg.audio.channels,
            audio_bitrate_kbps=cfg.audio.bitrate_kbps,
            sample_rate=cfg.audio.sample_rate,
            video_codec=cfg.video.codec,
            bit_depth=cfg.video.bit_depth,
            audio_codec=cfg.audio.codec,
            subtitle_language=_stream_language(cfg.subtitles.languages)
            if cfg.subtitles.mode == "stream" else None,
        )

    @property
    def gop(self) -> int:
        return max(1, round(self.fps * self.keyframe_seconds))

    @property
    def channel_layout(self) -> str:
        return CHANNEL_LAYOUTS.get(self.audio_channels, "stereo")


def _stream_language(languages: tuple[str, ...]) -> str:
    """The ISO 639-2 code a subtitle stream is labelled with: the first preferred one."""
    for lang in languages:
        code = normalize_language(lang)
        if code is not None:
            return code
    return "und"


@dataclass(frozen=True)
class ServiceInfo:
    """The MPEG-TS service a channel announces (its number and name)."""

    number: int
    name: str
    provider: str = "ExStreamTV"


@dataclass(frozen=True)
class MediaInput:
    """A media file or URL to play from ``offset`` for ``duration`` seconds.

    ``video_stream``/``audio_stream`` are absolute stream indexes in the input; None
    means the input has none and a slate or silence is generated instead.
    ``audio_filter`` comes from the audio picker (a downmix), ``video_filters`` and
    ``overlay_stream`` from the subtitle picker (burn-in): an image subtitle stream of
    the input, or of ``overlay_input`` (a sidecar file) when set. ``deinterlace``
    makes one progressive frame per interlaced frame (the frame rate stays);
    ``audio_gain_db`` is the item's loudness correction (a constant gain). ``tonemap``
    turns an HDR picture into SDR BT.709: ``"zscale"`` tone-maps on the CPU,
    ``"hardware"`` on the encoder's device (the preset's :class:`HardwareTonemap`),
    ``"tags"`` only marks the output BT.709 (an ffmpeg without zscale); ``tonemap_from``
    is the transfer of a picture whose stream does not say it (Dolby Vision without
    colour tags), written on the frames first as BT.2020 with that transfer. ``subtitle_stream`` is an image
    subtitle stream sent as the channel's DVB subtitles (subtitles as a stream), of the
    input or of ``subtitle_input`` (a sidecar file) when set.
    """

    location: str
    offset: float = 0.0
    duration: float | None = None
    video_stream: int | str | None = "v:0"
    audio_stream: int | str | None = "a:0"
    audio_filter: str | None = None
    video_filters: tuple[str, ...] = ()
    overlay_stream: int | None = None
    overlay_input: str | None = None
    copy: bool = False
    deinterlace: bool = False
    audio_gain_db: float | None = None
    tonemap: str | None = None
    tonemap_from: str | None = None
    watermark: Watermark | None = None
    subtitle_stream: int | None = None
    subtitle_input: str | None = None
    captions: Captions | None = None

    @property
    def is_network(self) -> bool:
        return "://" in self.location and not self.location.startswith("file://")


@dataclass(frozen=True)
class Watermark:
    """An image over the picture (a channel logo): a local file, placed in a corner.

    ``size`` is its width as a fraction of the picture's; ``opacity`` 0 (invisible) to 1.
    """

    image: str
    position: str = "bottom-right"  # top-left | top-right | bottom-left | bottom-right
    size: float = 0.12
    opacity: float = 0.8


@dataclass(frozen=True)
class Captions:
    """Lines of text drawn over the picture for its first ``seconds`` (now/next titles)."""

    lines: tuple[str, ...]
    seconds: float = 10.0
    position: str = "top-left"  # top-left | top-right | bottom-left | bottom-right


@dataclass(frozen=True)
class GeneratedInput:
    """Generated picture and sound (error screens): lavfi sources or a still image.

    ``video_args`` and ``audio_args`` are the input options ending in ``-i ...``;
    ``video_filter`` is applied to the picture before scaling (e.g. drawtext).
    """

    video_args: tuple[str, ...]
    audio_args: tuple[str, ...]
    duration: float | None = None
    video_filter: str | None = None
    watermark: Watermark | None = None


#: Deinterlacing that keeps the frame rate: one frame out per frame in (both fields
#: used), every frame treated as interlaced, field order taken from the frame.
DEINTERLACE = "bwdif=mode=send_frame:parity=auto:deint=all"


def video_format(profile: OutputProfile, preset: EncoderPreset) -> VideoFormat:
    """The encoder, pixel format and options for the profile's codec and bit depth."""
    fmt = preset.video_format(profile.video_codec, profile.bit_depth)
    if fmt is None:
        raise ValueError(f"encoder {preset.name} cannot produce {profile.video_codec} "
                         f"{profile.bit_depth}-bit (it can: {', '.join(preset.format_labels())})")
    return fmt


def _watermark_chain(mark: Watermark, index: int, profile: OutputProfile) -> tuple[str, str]:
    """(the image input scaled and faded, labelled ``[wm]``; the overlay filter)."""
    margin = round(profile.width * 0.03)
    width = max(2, round(profile.width * mark.size / 2) * 2)
    x = str(margin) if mark.position.endswith("left") else f"W-w-{margin}"
    y = str(margin) if mark.position.startswith("top") else f"H-h-{margin}"
    image = f"[{index}:v]scale={width}:-1,format=rgba,colorchannelmixer=aa={mark.opacity:.2f}[wm];"
    return image, f"overlay={x}:{y}:format=auto"


def caption_options(captions: Captions, line: int,
                    profile: OutputProfile) -> tuple[tuple[str, str | int | float], ...]:
    """The drawtext options (size, colours, place, timing) of caption line ``line``."""
    size = max(profile.height // 20, 8)
    margin = round(profile.height * 0.04)
    step = round(size * 1.5)
    x = str(margin) if captions.position.endswith("left") else f"w-tw-{margin}"
    if captions.position.startswith("top"):
        y = str(margin + line * step)
    else:
        y = f"h-{margin + (len(captions.lines) - line) * step}"
    return (("fontsize", size), ("fontcolor", "white"), ("box", 1), ("boxcolor", "black@0.6"),
            ("boxborderw", max(size // 4, 2)), ("x", x), ("y", y),
            ("enable", f"lt(t,{captions.seconds:g})"))


def _caption_chain(captions: Captions | None, profile: OutputProfile) -> str:
    """``,drawtext=...`` per caption line (every text drawn literally), or nothing."""
    if captions is None:
        return ""
    return "".join(
        "," + drawtext_filter(" ".join(text.splitlines()), *caption_options(captions, i, profile))
        for i, text in enumerate(captions.lines))


def _scale_chain(profile: OutputProfile, preset: EncoderPreset, overlay: str | None = None,
                 captions: Captions | None = None) -> str:
    """Scale and pad to the output size and rate, then ``[wm]`` ``overlay`` if given, then
    the captions."""
    w, h = profile.width, profile.height
    chain = (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,fps={profile.fps}:start_time=0"
    )
    if overlay:
        chain += f"[vbase];[vbase][wm]{overlay}"
    chain += _caption_chain(captions, profile)
    chain += f",format={video_format(profile, preset).pix_fmt}"
    if preset.upload_filter:
        chain += f",{preset.upload_filter}"
    return chain


def _audio_chain(profile: OutputProfile, pre: str | None, gain_db: float | None = None) -> str:
    parts = [pre] if pre else []
    if gain_db is not None:
        parts.append(f"volume={gain_db:.2f}dB")
    parts.append(f"aresample={profile.sample_rate}:async=1:first_pts=0")
    parts.append(
        f"aformat=sample_fmts=fltp:sample_rates={profile.sample_rate}:"
        f"channel_layouts={profile.channel_layout}"
    )
    return ",".join(parts)


def _subtitle_args(profile: OutputProfile, source: MediaInput | None,
                   next_input: int) -> tuple[list[str], list[str]]:
    """(input options, output options) of the channel's DVB subtitle stream, if it has one.

    The source's image subtitles are encoded with ``dvbsub``; without them the blank
    stream (:func:`~exstreamtv.ffmpeg.dvb_subtitles.blank_input`) is copied, so every
    command has the same streams.
    """
    if profile.subtitle_language is None:
        return [], []
    tag = ["-metadata:s:s:0", f"language={profile.subtitle_language}"]
    if source is not None and source.subtitle_stream is not None:
        if not source.subtitle_input:
            return [], ["-map", f"0:{source.subtitle_stream}", "-c:s", "dvbsub", *tag]
        seek = ["-ss", f"{source.offset:.3f}"] if source.offset > 0.01 else []
        return ([*seek, "-i", input_location(source.subtitle_input)],
                ["-map", f"{next_input}:{source.subtitle_stream}", "-c:s", "dvbsub", *tag])
    blank = blank_input(profile.subtitle_language)
    return ["-f", "mpegts", "-i", blank], ["-map", f"{next_input}:s:0", "-c:s", "copy", *tag]


def _shortest(profile: OutputProfile) -> list[str]:
    """``-shortest`` (a generated slate or silence ends with the file's other stream),
    except with a subtitle stream: its input ends at once and would end the output;
    ``-t`` bounds the output then."""
    return [] if profile.subtitle_language else ["-shortest"]


def _output_args(
    profile: OutputProfile, preset: EncoderPreset, service: ServiceInfo, duration: float | None,
    subtitles: list[str] | None = None,
) -> list[str]:
    kbps = profile.video_bitrate_kbps
    fmt = video_format(profile, preset)
    args = ["-map", "[vout]", "-map", "[aout]", *(subtitles or []), "-c:v", fmt.encoder]
    for flag, value in fmt.options:
        args += [flag, value]
    args += [
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps * 2}k",
        "-g", str(profile.gop), "-keyint_min", str(profile.gop),
        *_audio_codec_args(profile),
    ]
    if duration is not None:
        args += ["-t", f"{max(duration, 0.04):.3f}"]
    return args + _mux_args(service)


def _audio_codec_args(profile: OutputProfile) -> list[str]:
    return ["-c:a", profile.audio_codec, "-b:a", f"{profile.audio_bitrate_kbps}k",
            "-ac", str(profile.audio_channels), "-ar", str(profile.sample_rate)]


def _mux_args(service: ServiceInfo) -> list[str]:
    # One audio frame per PES (-pes_payload_size 0): the splicer continues each stream
    # from its last PES timestamp plus one frame, which is only right when a PES is one
    # frame (by default ffmpeg packs ~10 AAC frames into one PES).
    return [
        "-f", "mpegts", "-pes_payload_size", "0",
        "-mpegts_service_id", str(service.number),
        "-metadata", f"service_provider={service.provider}",
        "-metadata", f"service_name={service.name}",
        "pipe:1",
    ]


def _subtitle_chain(source: MediaInput, overlay_index: int) -> str:
    """Burn-in filters ending with a comma (or nothing).

    Text: the picker's filters (``subtitles=...``), which read the file themselves, so
    frames are shifted to file time around them when playing from an offset. Image:
    the subtitle stream scaled to the picture (``scale2ref``) and overlaid.
    """
    chain = ",".join(source.video_filters)
    if chain and source.offset > 0.01:
        chain = f"setpts=PTS+{source.offset:.3f}/TB,{chain},setpts=PTS-STARTPTS"
    if source.overlay_stream is None:
        return f"{chain}," if chain else ""
    sub_ref = f"[{overlay_index}:{source.overlay_stream}]"
    return (
        f"{chain or 'null'}[vmain];{sub_ref}[vmain]scale2ref=w=main_w:h=main_h[vsub][vref];"
        "[vref][vsub]overlay=0:0:eof_action=pass,"
    )


def _copy_args(source: MediaInput, profile: OutputProfile, service: ServiceInfo) -> list[str]:
    """Copy mode: the video unchanged (Annex B, as MPEG-TS needs), the audio re-encoded.

    Audio goes through the normal chain (cheap), so its timestamps start cleanly at the
    video's and priming samples or edit lists of the source cannot reorder them.
    """
    args = ["-i", input_location(source.location)]
    if source.audio_stream is None:
        args += ["-f", "lavfi", "-i", f"anullsrc=r={profile.sample_rate}:cl={profile.channel_layout}"]
        audio_ref = "[1:a]"
    else:
        audio_ref = f"[0:{source.audio_stream}]"
    sub_inputs, sub_outputs = _subtitle_args(profile, source, 2 if source.audio_stream is None else 1)
    chain = _audio_chain(profile, source.audio_filter, source.audio_gain_db)
    args += [*sub_inputs, "-filter_complex", f"{audio_ref}{chain}[aout]",
             "-map", f"0:{source.video_stream}", "-map", "[aout]", *sub_outputs,
             "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", *_audio_codec_args(profile)]
    if source.audio_stream is None:
        args += _shortest(profile)
    if source.duration is not None:
        args += ["-t", f"{max(source.duration, 0.04):.3f}"]
    return args + _mux_args(service)


def _network_args(source: MediaInput) -> list[str]:
    if not source.is_network:
        return []
    return ["-reconnect", "1", "-reconnect_streamed", "1", "-reconnect_delay_max", "5",
            "-rw_timeout", "15000000"]


def _audio_only_args(source: MediaInput | GeneratedInput, profile: OutputProfile,
                     service: ServiceInfo) -> list[str]:
    """A radio channel's item or error screen: the audio through the usual chain, no video
    (``-vn``); an input without sound gives silence for the duration."""
    if isinstance(source, GeneratedInput):
        args, audio_ref = list(source.audio_args), "[0:a]"
        pre, gain, duration = None, None, source.duration
    else:
        if source.audio_stream is None:
            args = ["-f", "lavfi", "-i", f"anullsrc=r={profile.sample_rate}:cl={profile.channel_layout}"]
            audio_ref = "[0:a]"
        else:
            args = _network_args(source)
            if source.offset > 0.01:
                args += ["-ss", f"{source.offset:.3f}"]
            args += ["-i", input_location(source.location)]
            audio_ref = f"[0:{source.audio_stream}]"
        sound = source.audio_stream is not None  # a downmix or gain is for the item's sound
        pre = source.audio_filter if sound else None
        gain = source.audio_gain_db if sound else None
        duration = source.duration
    args += ["-filter_complex", f"{audio_ref}{_audio_chain(profile, pre, gain)}[aout]",
             "-map", "[aout]", "-vn", "-sn", "-dn", *_audio_codec_args(profile)]
    if duration is not None:
        args += ["-t", f"{max(duration, 0.04):.3f}"]
    return args + _mux_args(service)


def build_command(
    ffmpeg: str,
    source: MediaInput | GeneratedInput,
    profile: OutputProfile,
    preset: EncoderPreset,
    service: ServiceInfo,
) -> list[str]:
    """The complete argv for one item or error screen of a channel."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "level+warning", "-stats",
            "-stats_period", "1"]
    if profile.audio_only:
        return [*argv, *_audio_only_args(source, profile, service)]  # no video, no device
    if isinstance(source, MediaInput) and source.copy:
        return [*argv, *_copy_args(source, profile, service)]  # no video encoder, no device
    argv += preset.init_args
    if isinstance(source, GeneratedInput):
        argv += [*source.video_args, *source.audio_args]
        pre = f"{source.video_filter}," if source.video_filter else ""
        mark, overlay, next_input = "", None, 2
        if source.watermark is not None:
            argv += ["-i", input_location(source.watermark.image)]
            mark, overlay = _watermark_chain(source.watermark, next_input, profile)
            next_input += 1
        graph = (f"{mark}[0:v]{pre}{_scale_chain(profile, preset, overlay)}[vout];"
                 f"[1:a]{_audio_chain(profile, None)}[aout]")
        sub_inputs, sub_outputs = _subtitle_args(profile, None, next_input)
        return [*argv, *sub_inputs, "-filter_complex", graph,
                *_output_args(profile, preset, service, source.duration, sub_outputs)]

    if source.tonemap == "hardware" and source.video_stream is not None:
        argv += device_tonemap(preset).init_args
    argv += _network_args(source)
    if source.video_stream is not None:
        argv += list(preset.decode_args)
    if source.offset > 0.01:
        argv += ["-ss", f"{source.offset:.3f}"]
    argv += ["-i", input_location(source.location)]
    next_input = 1
    if source.video_stream is None:
        argv += ["-f", "lavfi", "-i", f"color=c=black:s={profile.width}x{profile.height}:r={profile.fps}"]
        video_ref = f"[{next_input}:v]"
        next_input += 1
    else:
        video_ref = f"[0:{source.video_stream}]"
    if source.audio_stream is None:
        argv += ["-f", "lavfi", "-i", f"anullsrc=r={profile.sample_rate}:cl={profile.channel_layout}"]
        audio_ref = f"[{next_input}:a]"
        next_input += 1
    else:
        audio_ref = f"[0:{source.audio_stream}]"
    overlay_index = 0
    if source.overlay_stream is not None and source.overlay_input:
        if source.offset > 0.01:
            argv += ["-ss", f"{source.offset:.3f}"]
        argv += ["-i", input_location(source.overlay_input)]
        overlay_index = next_input
        next_input += 1
    first: list[str] = []  # at the source's size, before burn-in and scaling
    if source.video_stream is not None:
        if source.deinterlace:
            first.append(DEINTERLACE)
        if source.tonemap:
            if source.tonemap_from:
                first.append(hdr_tags(source.tonemap_from))
            first.append(tonemap_chain(source.tonemap, preset))
    early = "".join(f"{f}," for f in first)
    vchain = f"{video_ref}{early}{_subtitle_chain(source, overlay_index)}"
    mark, overlay = "", None
    if source.watermark is not None:
        argv += ["-i", input_location(source.watermark.image)]
        mark, overlay = _watermark_chain(source.watermark, next_input, profile)
        next_input += 1
    sub_inputs, sub_outputs = _subtitle_args(profile, source, next_input)
    argv += sub_inputs
    graph = (
        f"{mark}{vchain}{_scale_chain(profile, preset, overlay, source.captions)}[vout];"
        f"{audio_ref}{_audio_chain(profile, source.audio_filter, source.audio_gain_db)}[aout]"
    )
    extra = _shortest(profile) if source.audio_stream is None or source.video_stream is None else []
    return [*argv, "-filter_complex", graph, *extra,
            *_output_args(profile, preset, service, source.duration, sub_outputs)]
