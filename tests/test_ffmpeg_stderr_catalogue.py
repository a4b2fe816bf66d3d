"""The catalogue of real ffmpeg stderr lines against the error classification.

tests/data/ffmpeg_stderr/ holds lines ffmpeg really printed (on this machine with the
commands noted, or quoted in public bug reports), per encoder and per error type, with
the ffmpeg version. A hardware failure must be classified as its kind of device failure;
a line that only names a hardware encoder (a warning, a parameter dump) must not be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exstreamtv.healing.ffmpeg_monitor import (
    DeviceFailure,
    ErrorType,
    classify_error,
    decisive_error,
    device_failure,
)

DATA = Path(__file__).parent / "data" / "ffmpeg_stderr"


def _load(name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load((DATA / name).read_text())
    for entry in entries:
        assert entry["ffmpeg"] and entry["source"] and entry["line"], entry
    return entries


HARDWARE = _load("hardware.yaml")
OTHER = _load("other.yaml")


def _id(entry: dict[str, Any]) -> str:
    return f"{entry.get('encoder', '')}-{entry['expect']}-{entry['line'][:40]}"


@pytest.mark.parametrize("entry", HARDWARE, ids=_id)
def test_hardware_catalogue_line(entry: dict[str, Any]) -> None:
    found = classify_error(entry["line"])
    if entry["expect"] == "none":
        assert found is None or found.device is None, (
            f"a line naming {entry['encoder']} was taken for a device failure: {found}")
    else:
        assert found is not None and found.type is ErrorType.HARDWARE_ERROR, entry["line"]
        assert found.device is DeviceFailure(entry["expect"])
        assert found.cause


@pytest.mark.parametrize("entry", OTHER, ids=_id)
def test_other_catalogue_line(entry: dict[str, Any]) -> None:
    found = classify_error(entry["line"])
    if entry["expect"] == "none":
        assert found is None
    else:
        assert found is not None and found.type is ErrorType(entry["expect"]), found
        assert found.device is None


def test_catalogue_covers_every_encoder_family_and_kind() -> None:
    families = {e["encoder"].split("_")[-1] for e in HARDWARE}
    assert {"vaapi", "nvenc", "qsv"} <= families
    kinds = {e["expect"] for e in HARDWARE}
    assert {k.value for k in DeviceFailure} <= kinds
    for family in ("vaapi", "nvenc", "qsv"):
        expects = {e["expect"] for e in HARDWARE if e["encoder"].endswith(family)}
        assert "none" in expects and expects - {"none"}, family


def test_warning_tail_is_no_device_failure_but_a_real_tail_is() -> None:
    warnings = [e["line"] for e in HARDWARE if e["expect"] == "none"]
    assert device_failure(warnings) is None
    tail = ["[AVHWDeviceContext @ 0x55c2d419aa00] [error] No VA display found for device /dev/x.",
            "[error] Device creation failed: -22.",
            "[fatal] Error parsing global options: Invalid argument"]
    found = device_failure([*warnings, *tail])
    assert found is not None and found.device is DeviceFailure.DRIVER_INIT


def test_decisive_error_prefers_hardware_then_non_recoverable() -> None:
    lines = ["[error] /m/a.mp4: Invalid data found when processing input",
             "[error] Decoder (codec hevc) not found for input stream #0:0"]
    found = decisive_error(lines)
    assert found is not None and found.type is ErrorType.CODEC_ERROR and not found.recoverable
    found = decisive_error([*lines, "[h264_nvenc @ 0x1] [error] Cannot load libcuda.so.1"])
    assert found is not None and found.device is DeviceFailure.DRIVER_INIT


def test_opencl_tail_is_the_tone_mapping_not_the_encoder() -> None:
    """The real tail of the nvenc HDR argv here: the OpenCL line decides, not the generic
    "Device creation failed" after it (which alone means the encoder's device)."""
    tail = [e["line"] for e in HARDWARE if e["source"].startswith("local: ffmpeg -init_hw_device "
                                                                   "opencl")]
    tail += [e["line"] for e in HARDWARE if e["source"].startswith("local: same run, the next")]
    found = device_failure(tail)
    assert found is not None and found.device is DeviceFailure.TONEMAP
    alone = device_failure(tail[1:])
    assert alone is not None and alone.device is DeviceFailure.DEVICE_OPEN
