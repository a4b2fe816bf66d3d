"""Supervising one ffmpeg process in asyncio.

stderr is read line by line (``\\r`` progress lines included) into a bounded ring
buffer and handed to listeners (the healing monitor, the log collector). Stopping is
terminate, a timed wait, then kill. The ring buffer is what gets logged on failure.
On Linux every ffmpeg is also bound to the server's life (``PR_SET_PDEATHSIG``): if the
server dies without stopping it (``kill -9``), the kernel kills it, even a stopped one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

LineListener = Callable[[str], None]
#: A channel's stderr listener: a line and the wall time its ffmpeg started, so a late
#: line of a process that was already replaced is told from one of its successor.
SegmentLineListener = Callable[[str, float], None]

#: Bytes of ffmpeg output buffered in-process before ffmpeg is back-pressured (asyncio pauses
#: reading at twice this). Small, so an encoder runs close to play speed and a failure shows
#: up soon after it happens.
STDOUT_BUFFER = 32 * 1024
PR_SET_PDEATHSIG = 1


def _preexec() -> Callable[[], None] | None:
    """What the forked child runs before exec: on Linux, ask the kernel for SIGKILL when
    the server dies. libc is loaded here, in the parent, so the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return die_with_parent


class FFmpegProcess:
    """One running ffmpeg with its stdout as a stream and its stderr in a ring buffer."""

    def __init__(
        self,
        argv: Sequence[str],
        name: str,
        listeners: Sequence[LineListener] = (),
        ring_size: int = 200,
    ) -> None:
        self.argv = list(argv)
        self.name = name
        self.listeners = list(listeners)
        self.stderr_tail: deque[str] = deque(maxlen=ring_size)
        self._proc: asyncio.subprocess.Process | None = None
        #: Wall time ffmpeg was started (0.0 before).
        self.started = 0.0
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    @property
    def stdout(self) -> asyncio.StreamReader:
        assert self._proc is not None and self._proc.stdout is not None
        return self._proc.stdout

    async def start(self) -> None:
        """Start ffmpeg; raises OSError when the binary cannot be executed."""
        self.started = time.time()
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_preexec(),
            limit=STDOUT_BUFFER,
        )
        self._stderr_task = asyncio.get_running_loop().create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        pending = b""
        while True:
            chunk = await self._proc.stderr.read(4096)
            if not chunk:
                break
            pending += chunk.replace(b"\r", b"\n")
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self._line(raw)
            if len(pending) > 8192:  # a runaway line without newline
                self._line(pending)
                pending = b""
        if pending:
            self._line(pending)

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            return
        self.stderr_tail.append(line)
        for listener in self.listeners:
            try:
                listener(line)
            except Exception:
                log.exception("ffmpeg stderr listener failed")

    async def wait(self) -> int:
        """Wait for ffmpeg to exit; returns its exit code."""
        assert self._proc is not None
        code = await self._proc.wait()
        await self._finish_stderr(2.0)
        return code

    async def _finish_stderr(self, timeout: float) -> None:
        """Let the stderr reader take the last lines (the error that explains an exit),
        then end it. It may already be done, or cancelled by :meth:`stop`: never raise
        its cancellation into the caller (that would end the caller's task)."""
        task = self._stderr_task
        if task is None or task.done():
            return
        await asyncio.wait({task}, timeout=timeout)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to ffmpeg if it still runs."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    async def stop(self, timeout: float = 2.0) -> None:
        """Terminate, wait up to ``timeout``, then kill. Safe to call more than once."""
        proc = self._proc
        if proc is None:
            return
        drain = asyncio.get_running_loop().create_task(self._drain_stdout())
        if proc.returncode is None:
            self.send_signal(signal.SIGCONT)
            self.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                self.send_signal(signal.SIGKILL)
                await proc.wait()
        else:
            await proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(drain, 2)
        await self._finish_stderr(0.5)

    async def _drain_stdout(self) -> None:
        """Read and drop what is left on stdout (nothing if someone else is reading it).

        On Python 3.11 ``Process.wait()`` also waits for stdout to close, and an unread,
        full pipe (a pre-started segment) never closes: so stopping drains it.
        """
        if self._proc is None or self._proc.stdout is None:
            return
        with contextlib.suppress(RuntimeError, OSError):
            while await self._proc.stdout.read(65536):
                pass

    def failure_report(self, lines: int = 20) -> str:
        """The last stderr lines, for a log message when ffmpeg failed."""
        tail = [ln for ln in self.stderr_tail if not ln.startswith("frame=")][-lines:]
        return "\n    ".join(tail) if tail else "(ffmpeg printed nothing)"
