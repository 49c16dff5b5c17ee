"""A real Attention Atlas server and Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, sync_playwright

APP_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("ATLAS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Ports to try, such as "8620-8629"; unset means any free port the system gives.
PORT_RANGE_VARIABLE = "ATLAS_TEST_PORTS"
SERVER_START_SECONDS = 60
# Deep links request /<page>/_stcore/... first; Streamlit returns 404 and the app still loads.
HARMLESS_404 = re.compile(r"/[^/]+/_stcore/")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a free port on 127.0.0.1, from ATLAS_TEST_PORTS when it is set."""
    allowed = os.environ.get(PORT_RANGE_VARIABLE)
    if not allowed:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
    first, _, last = allowed.partition("-")
    for port in range(int(first), int(last or first) + 1):
        if _port_is_free(port):
            return port
    raise RuntimeError(f"No free port in {PORT_RANGE_VARIABLE}={allowed}; stop the servers that use it or widen the range.")


@dataclass
class StreamlitServer:
    """One `streamlit run app.py` process on 127.0.0.1, with its log in a file."""

    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "StreamlitServer":
        command = [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.address", "127.0.0.1",
            "--server.port", str(self.port),
            "--server.headless", "true",
            "--browser.gatherUsageStats", "false",
        ]
        environment = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=APP_ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment)
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Streamlit exited with code {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Streamlit did not answer on {self.url} within {SERVER_START_SECONDS} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server shared by a test module."""
    running = StreamlitServer(tmp_path_factory.mktemp("server") / "streamlit.log").start()
    yield running
    running.stop()


@pytest.fixture
def start_server(tmp_path):
    """Start fresh servers on demand; every one is stopped after the test."""
    started: list[StreamlitServer] = []

    def start() -> StreamlitServer:
        running = StreamlitServer(tmp_path / f"streamlit-{len(started)}.log")
        started.append(running)
        return running.start()

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"Chromium not found at {CHROMIUM}. Install it with `apt-get install chromium` "
            "or set ATLAS_CHROMIUM to its path."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class ConsoleLog:
    """Console messages and failed requests of one browser page."""

    messages: list[ConsoleMessage] = field(default_factory=list)

    def errors(self) -> list[str]:
        """Return the console errors, less the known harmless 404s of deep links."""
        found = []
        for message in self.messages:
            if message.type != "error":
                continue
            url = message.location.get("url", "") if message.location else ""
            if "404" in message.text and HARMLESS_404.search(url):
                continue
            found.append(f"{message.text} ({url})")
        return found


@pytest.fixture
def page(browser):
    """A fresh browser page with its console recorded in ``page.console_log``."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True, locale="en-US")
    opened = context.new_page()
    opened.set_default_timeout(90_000)
    console = ConsoleLog()
    opened.on("console", lambda message: console.messages.append(message))
    opened.console_log = console
    yield opened
    context.close()
