"""Error screen pictures (spec 2.1): text, image, test_pattern, slate."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from exstreamtv import (
    ErrorScreenRequest,
    VisualInput,
    drawtext_filter,
    drawtext_problem,
    hookimpl,
    input_location,
)

log = logging.getLogger(__name__)
_warned: set[str] = set()


def _size(req: ErrorScreenRequest) -> str:
    return f"{req.profile.width}x{req.profile.height}"


def slate(req: ErrorScreenRequest) -> VisualInput:
    """A plain dark-blue colour slate."""
    return VisualInput(("-f", "lavfi", "-i", f"color=c=0x101830:s={_size(req)}:r={req.profile.fps}"))


def text(req: ErrorScreenRequest) -> VisualInput:
    """The slate with the channel name and the reason written on it.

    Without a usable font (fontconfig finds none, or ffmpeg lacks freetype) it is the
    plain slate, with one log line saying why.
    """
    problem = drawtext_problem(req.ffmpeg)
    if problem is not None:
        if problem not in _warned:
            _warned.add(problem)
            log.warning("Error screen 'text' cannot draw text here (%s); showing the slate "
                        "instead (install fonts, e.g. fonts-dejavu-core)", problem)
        return slate(req)
    h = req.profile.height
    message = (req.config.message or req.reason).replace("\n", " ")
    flt = ",".join((
        drawtext_filter(req.channel_name, ("fontcolor", "white"), ("fontsize", max(h // 12, 10)),
                        ("x", "(w-tw)/2"), ("y", "h/3")),
        drawtext_filter(message, ("fontcolor", "0xffcc00"), ("fontsize", max(h // 20, 8)),
                        ("x", "(w-tw)/2"), ("y", "h/2")),
    ))
    return VisualInput(slate(req).args, flt)


def test_pattern(req: ErrorScreenRequest) -> VisualInput:
    """SMPTE colour bars."""
    return VisualInput(("-f", "lavfi", "-i", f"smptehdbars=s={_size(req)}:r={req.profile.fps}"))


def image(req: ErrorScreenRequest) -> VisualInput:
    """A still image from ``error_screen.image``, looped."""
    if not req.config.image:
        raise ValueError("error_screen.visual is 'image' but error_screen.image is not set")
    if not Path(req.config.image).is_file():
        raise ValueError(f"error_screen.image {req.config.image} is not a file")
    return VisualInput(("-loop", "1", "-framerate", str(req.profile.fps), "-i",
                        input_location(req.config.image)))


@hookimpl
def register_error_screens(register: Any) -> None:
    register("text", text, None, "the reason as text on a slate")
    register("image", image, None, "a still image")
    register("test_pattern", test_pattern, None, "colour bars")
    register("slate", slate, None, "a plain colour slate")
