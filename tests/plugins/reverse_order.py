"""A drop-in plugin that adds a working schedule type: the collection in reverse order."""

import voluptuous as vol

from exstreamtv import LoopingSequence, Scheduler, hookimpl


class ReverseScheduler(Scheduler):
    def entries(self, t):
        items = self.context.library.collection(self.options["collection"])[::-1]
        return LoopingSequence(items, epoch=0.0).entries(t)


@hookimpl
def register_schedulers(register):
    register("reverse", ReverseScheduler, {vol.Required("collection"): str})
