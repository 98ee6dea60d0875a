"""Compiling the kernel ahead, in another process, so that numba's on-disk cache is warm.

A numba compile of the kernel takes about two minutes and holds the GIL throughout: done
inside the serving process it would starve the event loop (handshakes time out, signals
wait). `make install` runs `python -m csms.grid.warm`; the server runs the same command as
a child process before it plans, and loads the cached machine code only once it is done.
With a warm cache the child only loads it (a few seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import weakref

log = logging.getLogger(__name__)

#: Seconds between attempts when the compiling process fails.
RETRY_S = 60.0
#: How long a cancelled compile gets to exit after SIGTERM before it is killed (s).
TERMINATE_GRACE_S = 1.0


class WarmUpFailed(RuntimeError):
    """The compiling process exited with an error; its stderr is in the message."""


#: Seconds this process took to load the kernel, once it has (machine code is per process).
_loaded: list[float] = []
#: The load in progress per event loop, shared by the planner and the swap service.
_loading: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


async def kernel_ready() -> None:
    """Compile in a child process, then load numba's cached machine code in a thread.

    Never compiles here: a compile holds the GIL for minutes. Callers share one load;
    cancelling a waiting caller (at shutdown) cancels it and stops the child.
    """
    if _loaded:
        return
    loop = asyncio.get_running_loop()
    task = _loading.get(loop)
    if task is None or task.done():  # a cancelled or failed load starts again
        task = _loading[loop] = loop.create_task(_load(), name="kernel-warm-up")
    await task


async def _load() -> None:
    while True:
        try:
            seconds = await compile_ahead()
            break
        except WarmUpFailed:
            log.exception("the kernel could not be compiled; planning waits")
            await asyncio.sleep(RETRY_S)
    from csms.grid.kernel import warm_up

    _loaded.append(await asyncio.to_thread(warm_up))
    log.info("kernel ready: %.1f s in a child process, %.1f s to load", seconds, _loaded[0])


async def compile_ahead() -> float:
    """Run the warm-up in a child process; return its seconds. Cancelling stops the child."""
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "csms.grid.warm",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        # Out of the terminal's process group: Ctrl-C reaches the server, which stops it.
        start_new_session=True,
    )
    log.info("loading or compiling the kernel in process %d", child.pid)
    try:
        _, stderr = await child.communicate()
    except asyncio.CancelledError:
        await _stop(child)
        raise
    if child.returncode != 0:
        tail = stderr.decode(errors="replace").strip()[-2000:]
        raise WarmUpFailed(f"kernel warm-up exited with {child.returncode}: {tail}")
    return time.perf_counter() - started


async def _stop(child: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    try:
        await asyncio.wait_for(child.wait(), TERMINATE_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


def main() -> int:
    from csms.grid.kernel import warm_up

    print(f"kernel ready in {warm_up():.1f} s; numba's cache now holds it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
