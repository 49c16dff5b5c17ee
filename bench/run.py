"""Run every performance measure of Attention Atlas side by side and print medians and ratios.

Usage: ``python -m bench.run [--repeats N] [--skip-browser]``. Speed lives here, never in
tests. Ratios come from measures taken in one process, interleaved round by round, so a
busy machine slows both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from transformers import AutoModel, AutoTokenizer

from model_utils import capture, load_model
from model_utils.loading import embedded_model_path
from model_utils.overview import capture_thumbnails
from viz.grid import head_grid_figure

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
LONG_TEXT = "Attention weights show where each token looks, and the cat sat on the mat because it was tired. " * 60
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def interleaved(functions: dict, repeats: int) -> dict[str, list[float]]:
    """Time each function once per round, ``repeats`` rounds, after one warm-up call each."""
    for function in functions.values():
        function()
    timings = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            timings[name].append(time.perf_counter() - started)
    return timings


def capture_ratios(repeats: int) -> dict:
    """Time capture of all heads and of one layer against a plain SDPA forward pass at 512 tokens."""
    path = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    plain_model = AutoModel.from_pretrained(path, attn_implementation="sdpa").eval()
    loaded = load_model()

    def plain():
        with torch.inference_mode():
            plain_model(**tokenizer(LONG_TEXT, truncation=True, max_length=512, return_tensors="pt"))

    timings = interleaved(
        {"sdpa": plain, "all": lambda: capture(loaded, LONG_TEXT), "one": lambda: capture(loaded, LONG_TEXT, layers=[3])}, repeats
    )
    # The app's capture cache keeps results alive, so there a capture writes into fresh
    # memory, where the rounds above reuse the buffer of the result they released. This
    # separate set keeps every result, so no round can reuse another's buffer.
    held_results = []
    held_timings = interleaved({"sdpa": plain, "held": lambda: held_results.append(capture(loaded, LONG_TEXT))}, repeats)
    held_results.clear()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    # Fastest rounds too: on a shared machine they are the least disturbed by other load.
    fastest = {name: min(values) for name, values in timings.items()}
    return {
        "tokens": capture(loaded, LONG_TEXT).num_tokens,
        "sdpa_ms": medians["sdpa"] * 1000,
        "all_heads_ms": medians["all"] * 1000,
        "one_layer_ms": medians["one"] * 1000,
        "all_heads_ratio": medians["all"] / medians["sdpa"],
        "one_layer_ratio": medians["one"] / medians["sdpa"],
        "all_heads_held_ratio": statistics.median(held_timings["held"]) / statistics.median(held_timings["sdpa"]),
        "all_heads_ratio_fastest": fastest["all"] / fastest["sdpa"],
        "one_layer_ratio_fastest": fastest["one"] / fastest["sdpa"],
    }


def overview_bytes() -> dict:
    """Compare the overview chart's bytes with BertViz's model view HTML for the same model and text.

    The overview's bytes are the JSON spec Streamlit puts in the chart's protobuf element,
    which is what the browser receives for it; BertViz's are its returned HTML.
    """
    from bertviz import model_view

    loaded = load_model()
    result = capture(loaded, LONG_TEXT)
    figure = head_grid_figure(result.attentions, result.layers, causal=result.is_causal)
    spec = figure.to_json()
    path = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    inputs = tokenizer(LONG_TEXT, truncation=True, max_length=512, return_tensors="pt")
    with torch.inference_mode():
        attentions = model(**inputs, output_attentions=True).attentions
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    html = model_view(attentions, tokens, html_action="return")
    bertviz_bytes = len(html.data.encode("utf-8"))
    return {
        "tokens": result.num_tokens,
        "overview_bytes": len(spec.encode("utf-8")),
        "bertviz_bytes": bertviz_bytes,
        "ratio": len(spec.encode("utf-8")) / bertviz_bytes,
    }


def long_decoder(folder: Path) -> Path:
    """Save a random-weight 12-layer × 12-head GPT-2 with 2048 positions and a byte-level tokenizer to ``folder``."""
    sys.path.insert(0, str(ROOT))
    from tests.tiny_models import byte_level_tokenizer, tiny_gpt2

    loaded = tiny_gpt2(num_hidden_layers=12, num_attention_heads=12, hidden_size=48, n_layer=12, n_head=12, n_embd=48)
    loaded.model.save_pretrained(folder)
    byte_level_tokenizer().save_pretrained(folder)
    return folder


def thumbnails_in_process(folder: Path, repeats: int) -> dict:
    """Time the 2048-token thumbnail capture and figure on the long decoder, in this process."""
    loaded = load_model(str(folder))
    text = LONG_TEXT * 3

    def overview():
        thumbnails = capture_thumbnails(loaded, text)
        head_grid_figure(thumbnails.thumbnails, thumbnails.layers, causal=True, token_count=thumbnails.num_tokens).to_json()

    timings = interleaved({"overview": overview}, repeats)
    return {"tokens": capture_thumbnails(loaded, text).num_tokens, "overview_s": statistics.median(timings["overview"])}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(environment: dict):
    """Start the app on a free local port and stop it on exit; yield ``(url, process)``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=20)


def peak_rss_bytes(pid: int) -> int:
    """Return a process's peak resident memory (VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _submit(page, text: str) -> None:
    area = page.locator("textarea").first
    area.fill(text)
    page.get_by_role("button", name="Run").click()


class RunWatcher:
    """Count the script runs a page's server reports finished, read from Streamlit's websocket messages.

    Waiting on these messages, not on the page's running indicator, cannot end before the
    run has started: the indicator appears only some time after a run begins.
    """

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.finished = 0
        self._message = ForwardMsg
        page.on("websocket", lambda socket_: socket_.on("framereceived", self._read))

    def _read(self, payload) -> None:
        if isinstance(payload, str):
            return
        message = self._message.FromString(payload)
        if message.WhichOneof("type") == "script_finished" and message.script_finished == self._message.FINISHED_SUCCESSFULLY:
            self.finished += 1

    def run(self, page, text: str, charts: int, timeout_s: float = 300) -> float:
        """Submit ``text``, wait for the run to finish and ``charts`` plotly charts to be drawn, and return the seconds taken."""
        before = self.finished
        started = time.perf_counter()
        _submit(page, text)
        while self.finished == before:
            if time.perf_counter() - started > timeout_s:
                raise PlaywrightTimeout(f"No finished script run within {timeout_s} s")
            # Playwright delivers websocket events while it waits.
            page.wait_for_timeout(5)
        _wait_drawn(page, charts)
        return time.perf_counter() - started


def _wait_drawn(page, charts: int, timeout_ms: int = 300_000) -> None:
    """Wait until ``charts`` plotly charts are on the page and the browser has painted twice since."""
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}", timeout=timeout_ms)
    page.evaluate("() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))")


def browser_measures(folder: Path, repeats: int) -> dict:
    """Time Run → every Heads view drawn (32 tokens, model warm), and the 2048-token overview on the long decoder."""
    results: dict = {}
    try:
        _browser_rounds(folder, repeats, results)
    except PlaywrightTimeout as error:
        logger.warning("Browser measure timed out: %s", str(error).splitlines()[0])
        results["timed_out"] = str(error).splitlines()[0]
    return results


def _browser_rounds(folder: Path, repeats: int, results: dict) -> None:
    from playwright.sync_api import sync_playwright

    short_texts = [f"Sentence number {index} has a few words so the model sees about thirty two tokens in all here." for index in range(repeats + 1)]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        with streamlit_server({}) as (url, _):
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            watcher = RunWatcher(page)
            page.goto(url)
            _wait_drawn(page, 2)
            timings = [watcher.run(page, text, charts=2) for text in short_texts]
            results["heads_click_to_drawn_s"] = statistics.median(timings[1:])
            logger.warning("heads click to drawn: %s", timings)
        with streamlit_server({"ATLAS_DEFAULT_MODEL": str(folder)}) as (url, process):
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            watcher = RunWatcher(page)
            frames: list[int] = []
            page.on("websocket", lambda socket_: socket_.on("framereceived", lambda payload: frames.append(len(payload))))
            # A fresh server's first deep link can miss the page list, so open the root first.
            page.goto(url)
            _wait_drawn(page, 1)
            page.goto(url + "/overview")
            _wait_drawn(page, 1)
            frames.clear()
            # The round number leads the text, because truncation at 2048 tokens cuts its end.
            long_texts = [f"Round {index}. " + LONG_TEXT * 3 for index in range(max(1, repeats // 2))]
            timings = [watcher.run(page, text, charts=1) for text in long_texts]
            logger.warning("long overview click to drawn: %s", timings)
            results["long_overview_s"] = statistics.median(timings)
            results["long_overview_peak_rss_bytes"] = peak_rss_bytes(process.pid)
            results["long_overview_frame_bytes"] = sum(frames) // max(1, len(timings))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="Rounds per measure; medians are printed.")
    parser.add_argument("--skip-browser", action="store_true", help="Skip the measures that drive Chromium.")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    report: dict = {
        "load_average": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, Python {platform.python_version()}, torch {torch.__version__}",
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
    }
    report["capture"] = capture_ratios(options.repeats)
    logger.warning("capture: %s", report["capture"])
    report["overview_bytes"] = overview_bytes()
    logger.warning("overview bytes: %s", report["overview_bytes"])
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as folder:
        decoder = long_decoder(Path(folder))
        report["long_decoder"] = thumbnails_in_process(decoder, max(1, options.repeats // 2))
        logger.warning("long decoder: %s", report["long_decoder"])
        if not options.skip_browser:
            report["browser"] = browser_measures(decoder, options.repeats)
    print(json.dumps(report, indent=2))
    print_table(report)


def print_table(report: dict) -> None:
    """Print each measure, its median and its target."""
    capture_report, sizes = report["capture"], report["overview_bytes"]
    rows = [
        ("capture all heads ÷ SDPA forward, 512 tokens", f"{capture_report['all_heads_ratio']:.2f}×", "≤ 1.3×"),
        ("capture one layer ÷ SDPA forward, 512 tokens", f"{capture_report['one_layer_ratio']:.2f}×", "≤ 1.05×"),
        ("capture all heads ÷ SDPA, every result held", f"{capture_report['all_heads_held_ratio']:.2f}×", "(fresh memory)"),
        ("overview bytes ÷ BertViz model view HTML, 512 tokens", f"1/{1 / sizes['ratio']:.0f}", "≤ 1/50"),
        ("2048-token overview (capture + figure, in process)", f"{report['long_decoder']['overview_s']:.2f} s", "≤ 5 s"),
    ]
    browser = report.get("browser")
    if browser is not None:
        rows += [
            ("Run → Heads views drawn, 32 tokens, Chromium", _shown(browser, "heads_click_to_drawn_s", 1, "s"), "≤ 1 s"),
            ("Run → 2048-token overview drawn, Chromium", _shown(browser, "long_overview_s", 1, "s"), "≤ 5 s"),
            ("server peak memory, 2048-token overview", _shown(browser, "long_overview_peak_rss_bytes", 1024**3, "GiB"), "≤ 2 GB"),
        ]
    width = max(len(row[0]) for row in rows)
    for name, value, target in rows:
        sys.stdout.write(f"{name.ljust(width)}  {value:>10}  {target}\n")


def _shown(results: dict, name: str, unit: float, suffix: str) -> str:
    return f"{results[name] / unit:.2f} {suffix}" if name in results else "timed out"


if __name__ == "__main__":
    main()
