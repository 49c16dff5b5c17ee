"""Child process that keeps one kaleido browser open and renders figures sent over stdin.

The parent (``viz.static_export``) runs this file as a script, so it imports only the
standard library, plotly and kaleido. Both directions use the same frame: an 8-byte
big-endian header of two lengths, a JSON header, then a binary payload.

Messages sent to the parent:
- ``{"event": "browser", "pid": PID}`` as soon as Chromium's process exists, so the parent
  can kill its process group if the start hangs;
- ``{"event": "ready"}`` once the browser is connected, or ``{"event": "failed", "error":
  TEXT}`` when it could not be started;
- one reply per request: ``{"ok": true}`` with the file as payload, or ``{"ok": false,
  "error": TEXT}``.

The worker exits when stdin closes (the parent died or closed it) or after ``--idle``
seconds without a request, and closes the browser on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import struct
import sys
import threading

FRAME_HEADER = struct.Struct(">II")

logger = logging.getLogger("viz.kaleido_worker")


def _read_exactly(descriptor: int, size: int) -> bytes | None:
    chunks = []
    while size > 0:
        chunk = os.read(descriptor, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(descriptor: int) -> tuple[dict, bytes] | None:
    """Read one frame from a file descriptor; return None at end of file.

    Reads go straight to the descriptor: a buffered reader blocked on a daemon thread
    makes Python abort at exit.
    """
    prefix = _read_exactly(descriptor, FRAME_HEADER.size)
    if prefix is None:
        return None
    header_size, payload_size = FRAME_HEADER.unpack(prefix)
    header = _read_exactly(descriptor, header_size)
    payload = _read_exactly(descriptor, payload_size)
    if header is None or payload is None:
        return None
    return json.loads(header), payload


def write_frame(stream, header: dict, payload: bytes = b"") -> None:
    encoded = json.dumps(header).encode("utf-8")
    stream.write(FRAME_HEADER.pack(len(encoded), len(payload)) + encoded + payload)
    stream.flush()


async def _open_browser(renderer, output) -> None:
    """Open the browser, reporting its process id while the start is still under way."""
    opening = asyncio.ensure_future(renderer.open())
    reported = False
    while not opening.done():
        if not reported and getattr(renderer, "subprocess", None) is not None:
            write_frame(output, {"event": "browser", "pid": renderer.subprocess.pid})
            reported = True
        await asyncio.wait({opening}, timeout=0.05)
    opening.result()
    if not reported:
        write_frame(output, {"event": "browser", "pid": renderer.subprocess.pid})
    write_frame(output, {"event": "ready"})


def _start_reader(input_descriptor: int, loop, requests: asyncio.Queue) -> None:
    """Read frames on a daemon thread, so an idle exit does not wait for a read that blocks."""

    def read_all() -> None:
        while True:
            frame = read_frame(input_descriptor)
            loop.call_soon_threadsafe(requests.put_nowait, frame)
            if frame is None:
                return

    threading.Thread(target=read_all, name="kaleido-worker-reader", daemon=True).start()


async def serve(browser_path: str, idle_seconds: float, input_descriptor: int, output) -> None:
    import kaleido

    requests: asyncio.Queue = asyncio.Queue()
    _start_reader(input_descriptor, asyncio.get_running_loop(), requests)
    # MathJax stays off: offline, kaleido otherwise waits seconds for a CDN on some renders.
    renderer = kaleido.Kaleido(path=browser_path, mathjax=False, timeout=None)
    try:
        await _open_browser(renderer, output)
    except Exception as error:  # noqa: BLE001 the parent shows the reason to the user
        write_frame(output, {"event": "failed", "error": f"{type(error).__name__}: {error}"})
        return
    try:
        while True:
            try:
                frame = await asyncio.wait_for(requests.get(), idle_seconds)
            except asyncio.TimeoutError:
                logger.info("No request for %s s; closing the browser", idle_seconds)
                return
            if frame is None:
                return
            options, figure_json = frame
            try:
                figure = json.loads(figure_json)
                data = await renderer.calc_fig(figure, opts=options)
            except Exception as error:  # noqa: BLE001 every failure goes back to the parent as text
                write_frame(output, {"ok": False, "error": f"{type(error).__name__}: {error}"})
                continue
            write_frame(output, {"ok": True}, data if isinstance(data, bytes) else str(data).encode("utf-8"))
    finally:
        await renderer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", required=True, help="Path of the Chromium or Chrome executable.")
    parser.add_argument("--idle", type=float, default=600.0, help="Seconds without a request before the worker exits.")
    arguments = parser.parse_args()
    # The protocol gets its own copy of stdout, and file descriptor 1 becomes stderr, so a
    # stray print from a library cannot corrupt a frame.
    output = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(arguments.browser, arguments.idle, sys.stdin.fileno(), output))


if __name__ == "__main__":
    main()
