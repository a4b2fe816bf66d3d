"""Error screen sound (spec 2.1): silent, sine, white noise, beep."""

from __future__ import annotations

from typing import Any

from exstreamtv import ErrorScreenRequest, hookimpl


def _lavfi(graph: str) -> tuple[str, ...]:
    return ("-f", "lavfi", "-i", graph)


def silent(req: ErrorScreenRequest) -> tuple[str, ...]:
    p = req.profile
    return _lavfi(f"anullsrc=r={p.sample_rate}:cl={p.channel_layout}")


def sine(req: ErrorScreenRequest) -> tuple[str, ...]:
    return _lavfi(f"sine=frequency=440:sample_rate={req.profile.sample_rate}")


def white_noise(req: ErrorScreenRequest) -> tuple[str, ...]:
    return _lavfi(f"anoisesrc=color=white:amplitude=0.1:sample_rate={req.profile.sample_rate}")


def beep(req: ErrorScreenRequest) -> tuple[str, ...]:
    # A 1 kHz tone for 0.2 s every second.
    return _lavfi(
        f"sine=frequency=1000:sample_rate={req.profile.sample_rate},"
        "volume='if(lt(mod(t,1),0.2),1,0)':eval=frame"
    )


@hookimpl
def register_error_audio(register: Any) -> None:
    register("silent", silent, None, "silence")
    register("sine", sine, None, "a 440 Hz tone")
    register("white_noise", white_noise, None, "white noise")
    register("noise", white_noise, None, "white noise (alias)")
    register("beep", beep, None, "a short beep every second")
