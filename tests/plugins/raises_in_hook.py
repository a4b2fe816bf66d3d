"""A drop-in plugin whose hooks raise (tests that only its contribution is missing)."""

from exstreamtv import hookimpl


@hookimpl
def register_sources(register):
    raise ValueError("cannot register sources today")


@hookimpl
def on_event(event, hub):
    raise ValueError("event handler exploded")
