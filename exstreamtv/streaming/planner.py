"""From a schedule entry to an ffmpeg argv, through the channel's plugins.

The planner resolves the channel's encoder, audio and subtitle pickers and error
screen modes from the registry, and builds every command with the one argv builder so
that all of a channel's segments share its output profile.

The encoder preset and output profile it uses are the configured ones, changed only
through the pipeline's commands (``UsePreset``, ``UseProfile``, ``LightenEncoding``):
at work level 1 a software encoder uses x264's fastest preset, at level 2 the picture
is also half the size. Changes apply to the segments started afterwards.

A radio channel (``output: audio``) plays only the sound of every item, movies
included, and its error screens are sound only: nothing about the picture (subtitles,
watermark, deinterlacing, tone mapping, copy) is planned, and loudness still applies.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from exstreamtv.config.model import ChannelConfig, config_relative
from exstreamtv.ffmpeg.command import (
    Captions,
    GeneratedInput,
    MediaInput,
    OutputProfile,
    ServiceInfo,
    Watermark,
    build_command,
)
from exstreamtv.ffmpeg.locate import FFmpegTools
from exstreamtv.ffmpeg.presets import SOFTWARE, EncoderPreset, listed_encoders, listed_filters
from exstreamtv.ffmpeg.watermark import image_problem
from exstreamtv.media.loudness import LoudnessCache, gain_db
from exstreamtv.media.models import MediaInfo, MediaItem, StreamInfo
from exstreamtv.media.pickers import AudioChoice, SubtitleChoice
from exstreamtv.registry import Registry
from exstreamtv.scheduling.base import ScheduledItem
from exstreamtv.streaming.error_screens import ErrorScreenRequest, VisualInput, drawtext_problem
from exstreamtv.streaming.webvtt import CueSource

log = logging.getLogger(__name__)

#: ``(item, location) -> what ffmpeg opens``; see :meth:`exstreamtv.media.relay.MediaRelay.playable`.
Playable = Callable[[MediaItem, str], str]


@dataclass(frozen=True)
class Plan:
    """An argv plus what it plays, for logs and the API."""

    argv: list[str]
    title: str
    kind: str  # program | error
    audio: AudioChoice | None = None
    subtitles: SubtitleChoice | None = None
    cue_source: CueSource | None = None  # text subtitles for HLS viewers (WebVTT)
    #: The cues of ``cue_source`` are also drawn as the channel's DVB subtitles.
    dvb_text: bool = False


def _cues_of(stream: StreamInfo, info: MediaInfo, offset: float, duration: float) -> CueSource:
    """Where the text subtitles ``stream`` of ``info`` are read (its sidecar, if it is one)."""
    if stream.external_path:
        return CueSource(stream.external_path, 0, offset, duration)
    return CueSource(info.path, stream.index, offset, duration)


@functools.lru_cache(maxsize=8)
def _listed(ffmpeg: str) -> frozenset[str]:
    """The encoders ``ffmpeg`` has (asked once per binary)."""
    return listed_encoders(ffmpeg)


@functools.lru_cache(maxsize=8)
def _filters(ffmpeg: str) -> frozenset[str]:
    """The filters ``ffmpeg`` has (asked once per binary)."""
    return listed_filters(ffmpeg)


def _first_video(info: MediaInfo | None) -> StreamInfo | None:
    """The video stream a channel plays of ``info`` (its first), or None."""
    videos = info.video_streams if info is not None else []
    return videos[0] if videos else None


def _assumed_transfer(info: MediaInfo | None) -> str | None:
    """The HDR transfer the picture must be tagged with before tone mapping (a Dolby
    Vision stream without colour tags), or None."""
    video = _first_video(info)
    return video.assumed_transfer if video is not None else None


class ItemPlanner:
    """Builds the ffmpeg commands of one channel."""

    def __init__(self, channel: ChannelConfig, registry: Registry, tools: FFmpegTools,
                 playable: Playable | None = None, config_path: Path | None = None) -> None:
        self.channel = channel
        #: The config file: relative image paths (the watermark) are taken from its folder.
        self.config_path = config_path
        #: Turns an item's location into what ffmpeg opens (the media relay for remote items).
        self.playable: Playable = playable or (lambda item, location: location)
        self.registry = registry
        self.tools = tools
        self.wanted = replace(OutputProfile.from_config(channel.ffmpeg), audio_only=channel.radio)
        self.base_profile = self.wanted
        self.service = ServiceInfo(channel.number, channel.name)
        # A radio channel encodes no picture: no GPU to open, no hardware fallback to make.
        self.base_preset = SOFTWARE if channel.radio else self.resolve_preset(channel.ffmpeg.encoder)
        self.work_level = 0
        #: HDR items are tone-mapped on the encoder's device when it can; False after the
        #: device failed to (``use_cpu_tonemap``): on the CPU, with the same encoder.
        self.device_tonemap = True
        #: Measured loudness per item (``audio.loudness_lufs``); None: no normalisation.
        self.loudness: LoudnessCache | None = None
        self._watermark_problem: str | None = None
        self._captions_warned = False
        #: Items whose picture cannot be shown right here, already warned about.
        self._picture_warned: set[str] = set()
        self._fit_profile()

    def _fit_profile(self) -> None:
        """The output the encoder can make here: the channel's codec and bit depth, or
        H.264 at the same depth (then 8-bit) with a warning, never a failing ffmpeg.

        The load check covers what each encoder declares; this covers ``auto`` and an
        ffmpeg built without the encoder (libx265)."""
        wanted = self.wanted
        listed = _listed(self.tools.ffmpeg)
        for codec, depth in ((wanted.video_codec, wanted.bit_depth),
                             ("h264", wanted.bit_depth), ("h264", 8)):
            fmt = self.base_preset.video_format(codec, depth)
            if fmt is None or (listed and fmt.encoder not in listed):
                continue
            if (codec, depth) != (wanted.video_codec, wanted.bit_depth):
                log.warning("Channel %d: encoder %s cannot produce %s %d-bit with %s (it can: "
                            "%s); sending %s %d-bit instead", self.channel.number,
                            self.base_preset.name, wanted.video_codec, wanted.bit_depth,
                            self.tools.ffmpeg, ", ".join(self.base_preset.format_labels()), codec, depth)
            self.base_profile = replace(wanted, video_codec=codec, bit_depth=depth)
            return
        self.base_profile = replace(wanted, video_codec="h264", bit_depth=8)

    @property
    def preset(self) -> EncoderPreset:
        """The preset next segments use (lighter while the host is starved)."""
        preset = self.base_preset
        if self.work_level >= 1 and preset.codec == "libx264":
            options = tuple(o for o in preset.options if o[0] != "-preset")
            preset = replace(preset, options=(("-preset", "ultrafast"), *options))
        return preset

    @property
    def profile(self) -> OutputProfile:
        """The output profile next segments use (half size at work level 2)."""
        p = self.base_profile
        if self.work_level >= 2:
            return replace(p, width=max(2, p.width // 4 * 2), height=max(2, p.height // 4 * 2))
        return p

    def resolve_preset(self, encoder: str) -> EncoderPreset:
        """The preset of encoder type ``encoder`` for this channel (software if unusable)."""
        try:
            component = self.registry.get("encoder", encoder)
            preset = component.factory(dict(self.channel.ffmpeg.encoder_options), self.tools)
        except Exception as exc:
            log.error(
                "Channel %d: encoder '%s' unavailable (%s); using software encoding",
                self.channel.number, encoder, exc,
            )
            return SOFTWARE
        if not isinstance(preset, EncoderPreset):
            log.error("Channel %d: encoder '%s' gave no preset; using software",
                      self.channel.number, encoder)
            return SOFTWARE
        return preset

    def use_software(self) -> None:
        """Fall back to the software encoder (after a hardware failure)."""
        self.use_preset(self.resolve_preset("software"))

    def use_cpu_tonemap(self) -> bool:
        """Tone-map HDR items on the CPU from now on, the encoder staying as it is (the
        device failed to tone-map). False when that was already so."""
        changed, self.device_tonemap = self.device_tonemap, False
        return changed

    def use_preset(self, preset: EncoderPreset) -> None:
        """Encode the next segments with ``preset`` (the output fitted to what it can make)."""
        self.base_preset = preset
        self._fit_profile()

    def media(self, entry: ScheduledItem, offset: float, location: str | None = None,
              next_title: str | None = None) -> Plan:
        """The command that plays ``entry`` from ``offset`` seconds to its end
        (``next_title``: what follows it, for the now/next captions)."""
        item = entry.item
        assert item is not None
        info = self._through_relay(item, item.info) if item.info is not None else None
        audio, video_stream, audio_stream = self.streams(info)
        radio = self.channel.radio
        subs = self._pick_subtitles(info) if info and not radio else None
        sent = subs if self.channel.ffmpeg.subtitles.mode == "stream" else None
        cues = None
        drawn = sent is not None and sent.stream is not None and sent.stream.is_text_subtitle
        if sent is not None and info is not None:
            subs = None  # sent as a stream, not burned in
            window = (entry.seek + offset, max(entry.duration - offset, 0.1))
            cues = (_cues_of(sent.stream, info, *window) if drawn and sent.stream is not None
                    else self._cue_source(info, *window))
            if drawn:  # ffmpeg sends the blank stream; the pipeline draws the cues
                sent = replace(sent, video_filters=(), overlay_stream=None, overlay_input=None)
        audio_filter = audio.filter if audio else None
        gain, loudness_note = self._gain(item, audio_stream, audio_filter)
        source = MediaInput(
            location=self.playable(item, location or item.location),
            offset=entry.seek + offset,  # a programme resumed after a mid-roll starts later
            duration=max(entry.duration - offset, 0.1),
            video_stream=video_stream,
            audio_stream=audio_stream,
            audio_filter=audio_filter,
            audio_gain_db=gain,
            video_filters=subs.video_filters if subs else (),
            overlay_stream=subs.overlay_stream if subs else None,
            overlay_input=subs.overlay_input if subs else None,
            deinterlace=not radio and self._deinterlace(info),
            tonemap=None if radio else self._tonemap(info),
            tonemap_from=None if radio else _assumed_transfer(info),
            watermark=None if radio else self._watermark(),
            subtitle_stream=sent.overlay_stream if sent else None,
            subtitle_input=sent.overlay_input if sent else None,
            captions=None if radio else self._captions(entry, offset, next_title),
        )
        copy = None if radio else self._copy_reason(info, subs or (None if drawn else sent), source)
        if copy is not None:
            source = replace(source, copy=True)
        argv = build_command(self.tools.ffmpeg, source, self.profile, self.preset, self.service)
        notes = [copy] if copy else []
        if radio:
            notes.append("radio: audio only" if audio_stream is not None
                         else "radio: no audio stream; silence")
        elif video_stream is None:
            notes.append("no video stream; showing a slate")
        if source.deinterlace:
            notes.append("deinterlaced")
        if source.watermark is not None:
            notes.append("watermark")
        if source.captions is not None:
            notes.append(f"now/next titles: {' / '.join(map(repr, source.captions.lines))}")
        if source.tonemap == "hardware" and self.preset.tonemap is not None:
            notes.append(f"HDR tone-mapped to SDR BT.709 on the device "
                         f"({self.preset.tonemap.filter})")
        elif source.tonemap == "zscale":
            notes.append("HDR tone-mapped to SDR BT.709 on the CPU (zscale)")
        elif source.tonemap == "tags":
            notes.append("HDR source: this ffmpeg has no zscale/tonemap filters, so it is only "
                         "tagged BT.709 and will look washed out (install an ffmpeg with zimg)")
        if not radio:
            notes += self._dolby_vision_notes(item, info)
        if loudness_note:
            notes.append(loudness_note)
        if audio is not None:
            notes.append(f"audio: {audio.reason}")
        if subs is not None:
            notes.append(f"subtitles: {subs.reason}")
        if sent is not None:
            notes.append(f"subtitle stream: {sent.reason}")
        if cues is not None:
            notes.append(f"{'DVB subtitles drawn and ' if drawn else ''}WebVTT for HLS from "
                         f"stream {cues.stream} of {cues.location}")
        log.info("Channel %d: '%s' from %.1fs (%s)", self.channel.number, item.title, offset,
                 "; ".join(notes) or "first video and audio streams")
        return Plan(argv, item.title, "program", audio, subs or sent, cues, drawn and cues is not None)

    def _through_relay(self, item: MediaItem, info: MediaInfo) -> MediaInfo:
        """``info`` with every URL ffmpeg opens by itself (the input, read again by the
        subtitles filter, and a media server's sidecar subtitles) swapped for the relay's."""
        if "://" in info.path:
            info = replace(info, path=self.playable(item, info.path))
        if any(s.external_path and "://" in s.external_path for s in info.streams):
            info = replace(info, streams=tuple(
                replace(s, external_path=self.playable(item, s.external_path))
                if s.external_path and "://" in s.external_path else s for s in info.streams))
        return info

    def streams(self, info: MediaInfo | None) -> tuple[AudioChoice | None, int | str | None,
                                                       int | str | None]:
        """The audio choice and the video and audio stream this channel plays of ``info``."""
        audio = self._pick_audio(info) if info else None
        video_stream: int | str | None = "v:0"
        audio_stream: int | str | None = "a:0"
        if info is not None:
            videos = info.video_streams
            video_stream = videos[0].index if videos else None
            if audio is not None and audio.stream is not None:
                audio_stream = audio.stream.index
            elif audio is None and info.audio_streams:
                audio_stream = info.audio_streams[0].index
            else:
                audio_stream = None
        return audio, video_stream, audio_stream

    def _gain(self, item: MediaItem, stream: int | str | None,
              audio_filter: str | None) -> tuple[float | None, str | None]:
        """The loudness gain for ``item`` (``audio.loudness_lufs``) and a note for the log."""
        target = self.channel.ffmpeg.audio.loudness_lufs
        if target is None or self.loudness is None or not isinstance(stream, int):
            return None, None
        measured = self.loudness.lookup(item, stream, audio_filter)
        if measured is None:
            return None, "loudness: not measured yet (no gain this time)"
        gain = gain_db(measured, target)
        if gain is None:
            return None, "loudness: silent or too short to measure (no gain)"
        return gain, f"loudness: {measured.integrated:.1f} LUFS, gain {gain:+.1f} dB"

    def _watermark(self) -> Watermark | None:
        """The channel's watermark, if its image can be used (else warn once, none)."""
        cfg = self.channel.ffmpeg.watermark
        image = self.channel.logo if cfg.image == "logo" else cfg.image
        if not image:
            return None
        image = str(config_relative(image, self.config_path)) if "://" not in image else image
        problem = image_problem(self.tools.ffmpeg, image)
        if problem is not None:
            if problem != self._watermark_problem:
                log.warning("Channel %d: no watermark: %s", self.channel.number, problem)
            self._watermark_problem = problem
            return None
        self._watermark_problem = None
        return Watermark(image, cfg.position, cfg.size, cfg.opacity)

    def _captions(self, entry: ScheduledItem, offset: float,
                  next_title: str | None) -> Captions | None:
        """The now/next titles at the start of an item (``now_next``), if drawtext can."""
        cfg = self.channel.ffmpeg.now_next
        if not cfg.enabled or offset > 1.0:
            return None
        problem = drawtext_problem(self.tools.ffmpeg)
        if problem is not None:
            if not self._captions_warned:
                log.warning("Channel %d: no now/next titles: %s", self.channel.number, problem)
            self._captions_warned = True
            return None
        lines = [f"Now: {entry.title}"]
        if next_title:
            lines.append(f"Next: {next_title}")
        return Captions(tuple(lines), cfg.seconds, cfg.position)

    def _tonemap(self, info: MediaInfo | None) -> str | None:
        """How an HDR10/HLG source becomes SDR: "hardware" (the encoder's device can, this
        ffmpeg has its filter and the device has not failed at it), "zscale" (the CPU),
        "tags" (no zscale here) or None (not HDR)."""
        videos = info.video_streams if info is not None else []
        if not videos or not videos[0].hdr:
            return None
        filters = _filters(self.tools.ffmpeg)
        device = self.preset.tonemap
        if (device is not None and self.device_tonemap and device.filter in filters
                and videos[0].tonemap_transfer in device.transfers):
            return "hardware"
        if {"zscale", "tonemap"} <= filters:
            return "zscale"
        log.warning("Channel %d: HDR source but %s has no zscale/tonemap filters; the picture "
                    "is only tagged BT.709 and will look washed out", self.channel.number,
                    self.tools.ffmpeg)
        return "tags"

    def _dolby_vision_notes(self, item: MediaItem, info: MediaInfo | None) -> list[str]:
        """What a Dolby Vision source plays as, and (warned once per item) why a profile 5
        one cannot look right."""
        video = _first_video(info)
        if video is None or video.dolby_vision is None:
            return []
        warning = video.picture_warning
        if warning is None:
            return [f"Dolby Vision {video.dolby_vision}: its {video.dynamic_range.upper()} "
                    "base layer plays (the Dolby Vision layer is left out)"]
        if item.id not in self._picture_warned:
            self._picture_warned.add(item.id)
            log.warning("Channel %d: '%s': %s", self.channel.number, item.title, warning)
        return [f"warning: {warning}"]

    def _deinterlace(self, info: MediaInfo | None) -> bool:
        """``video.deinterlace``: on, off, or auto (when the probe says interlaced)."""
        mode = self.channel.ffmpeg.video.deinterlace
        if mode != "auto":
            return mode == "on"
        videos = info.video_streams if info is not None else []
        return bool(videos) and videos[0].interlaced

    def _copy_reason(self, info: MediaInfo | None, subs: SubtitleChoice | None,
                     source: MediaInput) -> str | None:
        """Why ``source`` can be copied untouched (``ffmpeg.copy``), or None.

        Only from the start of a local file whose one H.264 video stream already has the
        profile's size and frame rate, with nothing to burn in. Audio is re-encoded anyway.
        The configured profile counts, not a starved host's lighter one: copying is
        lighter than any encode.
        """
        p = self.base_profile
        if not self.channel.ffmpeg.copy or info is None or source.offset > 0.01:
            return None
        if source.is_network or (subs is not None and subs.stream is not None):
            return None
        if source.deinterlace or source.tonemap or source.watermark is not None \
                or source.captions is not None:
            return None
        if (p.video_codec, p.bit_depth) != ("h264", 8):
            return None
        videos = info.video_streams
        if len(videos) != 1:
            return None
        v = videos[0]
        if (v.codec, v.width, v.height, v.pix_fmt) != ("h264", p.width, p.height, "yuv420p"):
            return None
        if v.fps is None or abs(v.fps - p.fps) > 0.01:
            return None
        return "copy: the source matches the channel profile"

    def error_screen(self, reason: str, duration: float | None) -> Plan:
        """The command for the channel's error screen showing ``reason``."""
        cfg = self.channel.ffmpeg.error_screen
        request = ErrorScreenRequest(reason, self.channel.name, self.channel.number,
                                     self.profile, cfg, self.tools.ffmpeg)
        visual = (VisualInput(()) if self.channel.radio
                  else self._component_input("error_screen", cfg.visual, request, "slate"))
        audio = self._component_input("error_audio", cfg.audio, request, "silent")
        assert isinstance(visual, VisualInput)
        assert isinstance(audio, tuple)
        mark = self._watermark() if self.channel.ffmpeg.watermark.show == "always" else None
        source = GeneratedInput(visual.args, audio, duration, visual.filter, mark)
        argv = build_command(self.tools.ffmpeg, source, self.profile, self.preset, self.service)
        return Plan(argv, reason, "error")

    def _component_input(self, kind: str, mode: str, request: ErrorScreenRequest,
                         fallback: str) -> object:
        for name in (mode, fallback):
            try:
                return self.registry.get(kind, name).factory(request)
            except Exception as exc:
                log.error("Channel %d: %s mode '%s' failed (%s)", self.channel.number,
                          kind.replace("_", " "), name, exc)
        p = self.profile
        if kind == "error_screen":
            return VisualInput(("-f", "lavfi", "-i", f"color=c=black:s={p.width}x{p.height}:r={p.fps}"))
        return ("-f", "lavfi", "-i", f"anullsrc=r={p.sample_rate}:cl={p.channel_layout}")

    def _pick_audio(self, info: object) -> AudioChoice | None:
        try:
            picker = self.registry.get("audio_picker", self.channel.ffmpeg.audio.picker).factory()
            choice: AudioChoice = picker.pick(info, self.channel.ffmpeg.audio)
            return choice
        except Exception as exc:
            log.error("Channel %d: audio picker failed (%s); playing the first audio stream",
                      self.channel.number, exc)
            return None

    def _cue_source(self, info: MediaInfo, offset: float, duration: float) -> CueSource | None:
        """The text subtitles the picker chooses for HLS viewers' WebVTT, or None."""
        texts = tuple(s for s in info.streams if s.type != "subtitle" or s.is_text_subtitle)
        if not any(s.type == "subtitle" for s in texts):
            return None
        choice = self._run_picker(replace(info, streams=texts))
        stream = choice.stream if choice is not None else None
        return _cues_of(stream, info, offset, duration) if stream is not None else None

    def _pick_subtitles(self, info: MediaInfo) -> SubtitleChoice | None:
        """The subtitles to burn in, or (mode ``stream``) to send as DVB subtitles: image
        ones encoded by ffmpeg, text ones drawn by :mod:`exstreamtv.streaming.dvb_text`."""
        if self.channel.ffmpeg.subtitles.mode == "none":
            return None
        return self._run_picker(info)

    def _run_picker(self, info: MediaInfo) -> SubtitleChoice | None:
        """The channel's subtitle picker's choice among ``info``'s streams (None: it failed)."""
        try:
            picker = self.registry.get("subtitle_picker",
                                       self.channel.ffmpeg.subtitles.picker).factory()
            choice: SubtitleChoice = picker.pick(info, self.channel.ffmpeg.subtitles)
            return choice
        except Exception as exc:
            log.error("Channel %d: subtitle picker failed (%s); no subtitles",
                      self.channel.number, exc)
            return None
