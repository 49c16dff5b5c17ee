"""PNG, SVG and PDF rendering in a kaleido child process that a time limit can always stop.

kaleido 1.x drives Chromium, and a render can hang forever inside the browser. A hang in
the caller's process would sit in a thread that cannot be stopped. So every render goes to
a child process (``viz/kaleido_worker.py``) that keeps one browser open between renders.
On a 2-core machine a warm render took 0.2-0.3 s and starting the child 2-3 s. When a
render or the start runs past its time limit, the child process and the browser's process
group are killed, and the next render starts a fresh child.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .kaleido_worker import FRAME_HEADER

logger = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("kaleido_worker.py")
BROWSER_INSTALL_HINT = "Install Chromium (Debian/Ubuntu: `apt-get install chromium`) or set ATLAS_CHROMIUM_PATH to a Chrome or Chromium executable."
# Seconds without a render before the child process closes its browser to free memory.
WORKER_IDLE_SECONDS = 600.0
CLOSE_WAIT_SECONDS = 3.0
# Seconds to wait for the exit code of a child that closed its output.
EXIT_WAIT_SECONDS = 2.0
# Time limit for a start in the background. On a busy 2-core machine one start took 10 s.
WARM_UP_SECONDS = 60.0
_STDERR_TAIL_BYTES = 2000


class StaticExportError(RuntimeError):
    """A PNG, SVG or PDF could not be rendered. The message gives the cause and the fix."""


class BrowserNotFoundError(StaticExportError):
    """No Chrome or Chromium executable was found, so kaleido cannot render."""


class ExportTimeoutError(StaticExportError):
    """A render did not finish within its time limit and was stopped."""


class _WorkerExitedError(StaticExportError):
    """The child process exited cleanly (its idle exit) before it replied."""


def find_browser(browser_path: str | None = None) -> str:
    """Return the Chromium executable to use, or raise BrowserNotFoundError at once.

    An explicit ``browser_path`` must exist and be executable. Without one, kaleido's own
    search runs: the BROWSER_PATH variable, a Chrome downloaded by ``kaleido_get_chrome``,
    then Chrome and Chromium on PATH and in their usual folders.
    """
    if browser_path:
        path = Path(browser_path)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise BrowserNotFoundError(f"No Chromium executable at '{browser_path}'. {BROWSER_INSTALL_HINT}")
        return str(path)
    from choreographer.browsers.chromium import Chromium

    found = Chromium.find_browser(skip_local=False)
    if not found or not os.access(found, os.X_OK):
        raise BrowserNotFoundError(f"No Chrome or Chromium executable was found. {BROWSER_INSTALL_HINT}")
    return found


def _kill_group(process_id: int | None) -> None:
    if process_id is None:
        return
    try:
        os.killpg(process_id, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()


class StaticRenderer:
    """One kaleido child process with its browser, used by one render at a time.

    ``environment`` replaces the child's environment variables (tests use it to hide fonts).
    The child closes its browser and exits after ``idle_seconds`` without a render.
    """

    def __init__(
        self,
        browser_path: str | None = None,
        *,
        environment: dict[str, str] | None = None,
        idle_seconds: float = WORKER_IDLE_SECONDS,
    ) -> None:
        self.browser_path = browser_path
        self.environment = environment
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._warming = False
        self._warming_lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._browser_pid: int | None = None
        self._stderr = None

    def render(self, figure_json: str, options: dict, timeout: float) -> bytes:
        """Render one figure (plotly JSON) with kaleido ``options`` within ``timeout`` seconds.

        Raises BrowserNotFoundError before starting anything when no browser is found,
        ExportTimeoutError when the time runs out (the child and its browser are killed),
        and StaticExportError for any other failure.
        """
        deadline = _Deadline(timeout)
        browser = find_browser(self.browser_path)
        if not self._lock.acquire(timeout=max(deadline.remaining(), 0)):
            if self._warming:
                raise ExportTimeoutError(f"Chromium was still starting after {timeout:g} s. Try again in a moment.")
            raise ExportTimeoutError(f"Another static export was still running after {timeout:g} s. Try again in a moment.")
        try:
            return self._render_locked(browser, figure_json.encode("utf-8"), options, deadline)
        finally:
            self._lock.release()

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def warm_up(self, timeout: float = WARM_UP_SECONDS) -> None:
        """Start the child process and its browser on a background thread, unless one is running or starting.

        The first render then skips the start, which takes seconds. Raises
        BrowserNotFoundError at once when no browser is found.
        """
        browser = find_browser(self.browser_path)
        with self._warming_lock:
            if self._warming or self.is_running():
                return
            self._warming = True
        threading.Thread(target=self._warm_up, args=(browser, timeout), name="kaleido-warm-up", daemon=True).start()

    def _warm_up(self, browser: str, timeout: float) -> None:
        try:
            with self._lock:
                if not self.is_running():
                    self._start(browser, _Deadline(timeout))
        except (StaticExportError, OSError, ValueError, AttributeError) as error:
            # close() may stop the process while it starts, which leaves closed pipes or no process.
            logger.warning("Starting the kaleido process in the background failed: %s", error)
            with self._lock:
                self._stop()
        finally:
            self._warming = False

    def close(self) -> None:
        """Stop the child process, letting it close its browser for up to CLOSE_WAIT_SECONDS first.

        A render or start still running after CLOSE_WAIT_SECONDS is cut off: its process is killed.
        """
        locked = self._lock.acquire(timeout=CLOSE_WAIT_SECONDS)
        try:
            if locked and self.is_running():
                self._process.stdin.close()
                try:
                    self._process.wait(CLOSE_WAIT_SECONDS)
                except subprocess.TimeoutExpired:
                    logger.warning("The kaleido process %s did not exit within %s s; killing it", self._process.pid, CLOSE_WAIT_SECONDS)
            self._stop()
        finally:
            if locked:
                self._lock.release()

    def _render_locked(self, browser: str, figure_json: bytes, options: dict, deadline: _Deadline) -> bytes:
        reused = self.is_running()
        try:
            return self._exchange(browser, figure_json, options, deadline)
        except _WorkerExitedError:
            # The child's idle exit can cross a request on its way; one fresh child is enough.
            if not reused:
                raise
            logger.info("The kaleido process exited before replying; starting a new one")
            return self._exchange(browser, figure_json, options, deadline)

    def _exchange(self, browser: str, figure_json: bytes, options: dict, deadline: _Deadline) -> bytes:
        try:
            if not self.is_running():
                self._start(browser, deadline)
            self._write_frame(options, figure_json, deadline)
            reply, payload = self._read_frame(deadline)
        except ExportTimeoutError:
            logger.warning("Static export timed out after %.3g s; killing the kaleido process %s", deadline.seconds, self._pid())
            self._stop()
            raise
        except StaticExportError:
            self._stop()
            raise
        if not reply.get("ok"):
            raise StaticExportError(f"kaleido could not render the figure: {reply.get('error')}")
        return payload

    def _pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _start(self, browser: str, deadline: _Deadline) -> None:
        self._stop()
        started = time.monotonic()
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), "--browser", browser, "--idle", str(self.idle_seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self.environment,
            start_new_session=True,
        )
        os.set_blocking(self._process.stdin.fileno(), False)
        while True:
            event, _ = self._read_frame(deadline)
            if event.get("event") == "browser":
                self._browser_pid = int(event["pid"])
            elif event.get("event") == "ready":
                break
            elif event.get("event") == "failed":
                raise StaticExportError(f"Chromium at '{browser}' did not start: {event.get('error', '')[:500]}")
        logger.info("Started kaleido process %s with %s in %.2f s", self._process.pid, browser, time.monotonic() - started)

    def _stop(self) -> None:
        # Both groups are killed: the child's own, and the browser's, which choreographer
        # starts in a new session.
        if self._process is not None:
            _kill_group(self._process.pid)
            _kill_group(self._browser_pid)
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if not stream.closed:
                    stream.close()
        if self._stderr is not None:
            self._stderr.close()
        self._process = None
        self._browser_pid = None
        self._stderr = None

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - _STDERR_TAIL_BYTES))
        return self._stderr.read().decode("utf-8", "replace").strip()

    def _exited_error(self) -> StaticExportError:
        """Build the error for a child that closed its end of a pipe, from its exit code and stderr."""
        try:
            self._process.wait(EXIT_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            return StaticExportError(f"The kaleido process closed its output but did not exit within {EXIT_WAIT_SECONDS:g} s.")
        tail = self._stderr_tail()
        if "ChromeNotFoundError" in tail or "No browser found" in tail:
            return BrowserNotFoundError(f"kaleido could not start the browser. {BROWSER_INSTALL_HINT}")
        if self._process.returncode == 0:
            return _WorkerExitedError("The kaleido process exited before replying.")
        return StaticExportError(f"The kaleido process exited with code {self._process.returncode}: {tail[-500:]}")

    def _timeout_error(self, deadline: _Deadline) -> ExportTimeoutError:
        return ExportTimeoutError(
            f"Static export timed out after {deadline.seconds:g} s and was stopped. "
            "Large figures may need a longer limit (ATLAS_EXPORT_TIMEOUT_SECONDS)."
        )

    def _write_frame(self, header: dict, payload: bytes, deadline: _Deadline) -> None:
        encoded = json.dumps(header).encode("utf-8")
        data = memoryview(FRAME_HEADER.pack(len(encoded), len(payload)) + encoded + payload)
        descriptor = self._process.stdin.fileno()
        while data:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise self._timeout_error(deadline)
            _, writable, _ = select.select([], [descriptor], [], remaining)
            if not writable:
                continue
            try:
                written = os.write(descriptor, data)
            except BrokenPipeError:
                raise self._exited_error() from None
            data = data[written:]

    def _read_exactly(self, size: int, deadline: _Deadline) -> bytes:
        descriptor = self._process.stdout.fileno()
        chunks = []
        while size > 0:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise self._timeout_error(deadline)
            readable, _, _ = select.select([descriptor], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(descriptor, min(size, 1 << 20))
            if not chunk:
                raise self._exited_error()
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: _Deadline) -> tuple[dict, bytes]:
        header_size, payload_size = FRAME_HEADER.unpack(self._read_exactly(FRAME_HEADER.size, deadline))
        header = json.loads(self._read_exactly(header_size, deadline))
        return header, self._read_exactly(payload_size, deadline)


_shared_renderers: dict[str | None, StaticRenderer] = {}
_shared_lock = threading.Lock()


def shared_renderer(browser_path: str | None = None) -> StaticRenderer:
    """Return the process-wide renderer for one browser path, created on first use."""
    with _shared_lock:
        if browser_path not in _shared_renderers:
            _shared_renderers[browser_path] = StaticRenderer(browser_path)
        return _shared_renderers[browser_path]


@atexit.register
def _close_shared_renderers() -> None:
    for renderer in list(_shared_renderers.values()):
        renderer.close()
