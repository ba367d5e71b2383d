"""The calculator page in a real headless Chromium, driven over WebDriver (W3C WebDriver,
https://www.w3.org/TR/webdriver2/, spoken to chromedriver with the standard library's urllib:
no selenium needed). Starts the real binary (`vramgate ui --listen 127.0.0.1:0`), fills the
form, submits it, reads the result and checks it against `vramgate estimate --output json` for
the same job; a bad field shows its error. The screenshot goes to target/ui-screenshot.png
(the CI artifact). Loopback only; every wait is bounded.

Needs Debian's chromium and chromium-driver (`make deps` installs them) and the debug binary
(`cargo build`; or VRAMGATE_BIN). Run: `make ui-test`, or `pytest tests/ui`.
"""

import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("VRAMGATE_BIN", str(ROOT / "target" / "debug" / "vramgate"))
SCREENSHOT = ROOT / "target" / "ui-screenshot.png"
GIB = 1024**3
STEP_SECONDS = 20  # longest any single wait may take


def chromium_binary():
    for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(p):
            return p
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=STEP_SECONDS) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {url}: {e.code} {e.read()[:500]!r}") from None


def wait_for(what, check):
    deadline = time.monotonic() + STEP_SECONDS
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {STEP_SECONDS} s waiting for {what}")


class Browser:
    """A WebDriver session of headless Chromium."""

    def __init__(self, driver_url):
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium_binary(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,1300", "--no-first-run", "--disable-extensions"],
        }}}}
        self.url = driver_url
        self.session = http("POST", f"{driver_url}/session", caps)["value"]["sessionId"]
        self.base = f"{driver_url}/session/{self.session}"

    def go(self, url):
        http("POST", f"{self.base}/url", {"url": url})

    def find(self, css):
        v = http("POST", f"{self.base}/element", {"using": "css selector", "value": css})["value"]
        return next(iter(v.values()))

    def click(self, css):
        http("POST", f"{self.base}/element/{self.find(css)}/click", {})

    def type(self, css, text):
        el = self.find(css)
        http("POST", f"{self.base}/element/{el}/clear", {})
        http("POST", f"{self.base}/element/{el}/value", {"text": text})

    def text(self, css):
        return http("GET", f"{self.base}/element/{self.find(css)}/text")["value"]

    def attribute(self, css, name):
        return http("GET", f"{self.base}/element/{self.find(css)}/attribute/{name}")["value"]

    def script(self, js):
        return http("POST", f"{self.base}/execute/sync", {"script": js, "args": []})["value"]

    def screenshot(self, path):
        png = base64.b64decode(http("GET", f"{self.base}/screenshot")["value"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png

    def quit(self):
        try:
            http("DELETE", self.base)
        except Exception:  # noqa: BLE001 - the driver is stopped next anyway
            pass


@pytest.fixture(scope="module")
def page():
    if chromium_binary() is None or shutil.which("chromedriver") is None:
        pytest.fail("chromium and chromium-driver are not installed (make deps installs them)")
    assert os.path.exists(BIN), f"{BIN} missing: run cargo build"
    ui = subprocess.Popen([BIN, "ui", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={port}", "--allowed-ips=127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = None
    try:
        line = ui.stdout.readline().strip()
        assert line.startswith("vramgate ui: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1]
        driver_url = f"http://127.0.0.1:{port}"

        def ready():
            try:
                return http("GET", f"{driver_url}/status")["value"]["ready"]
            except Exception:  # noqa: BLE001 - not listening yet
                return False

        wait_for("chromedriver", ready)
        browser = Browser(driver_url)
        browser.go(url)
        wait_for("the page's options", lambda: browser.script("return document.body.dataset.ready") == "true")
        yield browser
    finally:
        if browser:
            browser.quit()
        for p in (driver, ui):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


JOB = {"model": "llama-2-13b", "precision": "fp32", "strategy": "ddp", "gpu": "A100-80GB", "gpus": "8",
       "sequence-length": "2048", "training-tokens": "20B"}


def cli_estimate():
    args = [BIN, "estimate", "--output", "json"]
    for k, v in JOB.items():
        args += [f"--{k}", v]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr  # does not fit: exit 1
    return json.loads(out.stdout)


def test_the_form_gives_the_estimate_the_cli_gives(page):
    page.click(f'#model option[value="{JOB["model"]}"]')
    page.click(f'#precision option[value="{JOB["precision"]}"]')
    page.click(f'#strategy option[value="{JOB["strategy"]}"]')
    page.click(f'#gpu option[value="{JOB["gpu"]}"]')
    for field in ("gpus", "sequence-length", "training-tokens"):
        page.type(f"#{field}", JOB[field])
    page.click("#estimate")
    wait_for("the result", lambda: page.script("return document.body.dataset.state") == "result")

    want = cli_estimate()
    total = want["per_gpu"]["total_bytes"]
    assert int(page.attribute("#total", "data-total-bytes")) == total
    assert page.text("#total") == f"{total / GIB:.1f} GiB"
    assert page.text("#decision") == want["decision"] == "does-not-fit"
    plan = want["plan"]
    assert page.text("#plan").startswith(f"Fits with {plan['gpus']} x {plan['gpu']} using {plan['strategy']}")
    annotations = page.text("#annotations")
    for k, v in JOB.items():
        assert f'vramgate.io/{k}: "{v}"' in annotations, annotations
    # The stacked bar: one segment per non-zero part, adding up to the total.
    widths = page.script("return [...document.querySelectorAll('#bar rect')].map(r => +r.getAttribute('width'))")
    scale = 1000 / max(total, want["gpu_memory_bytes"])
    assert abs(sum(widths) - total * scale) < 0.5, widths
    png = page.screenshot(SCREENSHOT)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_a_bad_field_shows_its_error(page):
    page.type("#sequence-length", "lots")
    page.click("#estimate")
    wait_for("the error", lambda: page.script("return document.body.dataset.state") == "error")
    assert page.text("#error").startswith("sequence-length: 'lots' is not accepted"), page.text("#error")


def test_architecture_fields_make_the_annotation_the_cli_reads(page):
    # Llama 2 7B's shape (its config.json: 32 layers, hidden 4096, 32 heads, MLP 11008, vocab 32000).
    arch = {"layers": "32", "hidden": "4096", "heads": "32", "kv-heads": "32", "intermediate": "11008", "vocab": "32000"}
    page.click('input[name=source][value="architecture"]')
    for k, v in arch.items():
        page.type(f'[data-arch="{k}"]', v)
    page.type("#sequence-length", JOB["sequence-length"])
    page.click("#estimate")
    wait_for("the result", lambda: page.script("return document.body.dataset.state") == "result")
    value = ",".join(f"{k}={v}" for k, v in arch.items())
    assert f'vramgate.io/architecture: "{value}"' in page.text("#annotations")
    args = [BIN, "estimate", "--output", "json", "--architecture", value]
    for k in ("precision", "strategy", "gpu", "gpus", "sequence-length", "training-tokens"):
        args += [f"--{k}", JOB[k]]
    want = json.loads(subprocess.run(args, capture_output=True, text=True, timeout=60).stdout)
    assert int(page.attribute("#total", "data-total-bytes")) == want["per_gpu"]["total_bytes"]
