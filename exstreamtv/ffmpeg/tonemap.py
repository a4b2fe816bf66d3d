"""HDR to SDR BT.709 as filter chains: on the CPU (zscale + tonemap), on the encoder's
device (the preset's :class:`~exstreamtv.ffmpeg.presets.HardwareTonemap`), or only the
BT.709 tags (an ffmpeg without zscale); and the BT.2020 tags a tone mapper needs on a
picture whose stream does not say its transfer (Dolby Vision without colour tags)."""

from __future__ import annotations

from exstreamtv.ffmpeg.presets import EncoderPreset, HardwareTonemap

#: SDR BT.709 colour tags on the frames (the encoder writes them into the stream).
SDR_TAGS = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
#: HDR10 (PQ) or HLG to SDR BT.709: to linear light (100 nits = 1.0), BT.709 primaries,
#: mobius tone mapping (SDR-range values nearly unchanged, highlights compressed), back
#: to the BT.709 transfer and matrix.
TONEMAP = {
    "zscale": ("zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
               f"tonemap=tonemap=mobius:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p,{SDR_TAGS}"),
    "tags": SDR_TAGS,
}


def hdr_tags(transfer: str) -> str:
    """The frames tagged BT.2020 with ``transfer`` (smpte2084 or arib-std-b67), for a
    tone mapper reading an HDR picture whose stream has no colour tags."""
    return f"setparams=color_primaries=bt2020:color_trc={transfer}:colorspace=bt2020nc"


def tonemap_chain(method: str, preset: EncoderPreset) -> str:
    """The filters that make an HDR picture SDR BT.709 by ``method``: a :data:`TONEMAP`
    chain, or ``"hardware"``: the preset's device chain, then the BT.709 tags."""
    if method != "hardware":
        return TONEMAP[method]
    return ",".join((*device_tonemap(preset).chain, SDR_TAGS))


def device_tonemap(preset: EncoderPreset) -> HardwareTonemap:
    """The device tone mapping of ``preset`` (ValueError: it has none)."""
    if preset.tonemap is None:
        raise ValueError(f"encoder {preset.name} has no hardware tone mapping")
    return preset.tonemap
