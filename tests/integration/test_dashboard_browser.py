"""The dashboard in a real browser: Debian's chromium, driven through selenium,
against a real evald fed known data, compared with scikit-learn."""
import json
import os
import socket
import time
import urllib.request

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import MANUAL, Daemon, advance

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# No skip when they are missing: scripts/deps installs them, and a browser test that
# quietly does not run would pass for a page that does not work.
assert os.path.exists(CHROMIUM) and os.path.exists(DRIVER), \
    "scripts/deps installs Debian's chromium and chromium-driver"
# Screenshots go here: the build's artifacts, or docs/images when scripts/screenshots asks.
SHOTS = os.environ.get("EVALD_SCREENSHOTS") or os.path.join(
    os.environ.get("EVALD_BUILD_DIR", "/tmp"), "screenshots")
WAIT = 20.0  # seconds a page may take to show what it should (loops below are bounded by it)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser(width=1280, height=1400):
    o = Options()
    o.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--force-color-profile=srgb"):
        o.add_argument(arg)
    if width < 500:  # below chromium's smallest window: a phone's viewport, emulated
        o.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 1}})
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=o)


def wait_for(check, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception:  # the page is still loading
            pass
        time.sleep(0.1)
    raise AssertionError(f"the page never showed {what}")


def shown(x):
    """A figure as the page shows it: six significant digits, '—' when undefined."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "\u2014"
    if float(x).is_integer():
        return str(int(x))
    return f"{float(f'{x:.6g}')!r}".rstrip("0").rstrip(".") if "e" not in f"{x:.6g}" else f"{x:.6g}"


def quantized(rng, n):
    return np.floor(rng.random(n) * 1000) / 1000


@pytest.fixture
def fed(tmp_path):
    """evald on a fixed HTTP port (so that a restart keeps it), fed known records."""
    port = free_port()
    extra = ('[stream "fraud"]\nthresholds = 0.5,0.8\ndrift_reference = fraud-validation\n'
             '[state]\npath = %s\n' % (tmp_path / "evald.state"))
    d = Daemon(tmp_path, args=MANUAL, http={"listen": f"127.0.0.1:{port}"}, extra=extra)
    rng = np.random.default_rng(7)
    data = {}
    with d.client("unix") as c:
        s = quantized(rng, 4000)
        y = (rng.random(4000) < s ** 1.5).astype(int)
        c.request({"op": "observe", "id": 1, "stream": "fraud", "labels": y.tolist(),
                   "scores": s.tolist()})
        advance(c, 600)  # ten minutes later, records only the 5m window holds
        s2 = quantized(rng, 1000)
        y2 = (rng.random(1000) < s2).astype(int)
        c.request({"op": "observe", "id": 2, "stream": "fraud", "labels": y2.tolist(),
                   "scores": s2.tolist()})
        data["fraud"] = (np.r_[y, y2], np.r_[s, s2])
        data["fraud-5m"] = (y2, s2)
        v = quantized(rng, 3000)
        c.request({"op": "observe", "id": 3, "stream": "fraud-validation",
                   "labels": (rng.random(3000) < v).astype(int).tolist(), "scores": v.tolist()})
        c.request({"op": "observe", "id": 4, "stream": "no positives", "labels": [0] * 50,
                   "scores": rng.random(50).tolist()})
    yield d, port, data
    assert d.stop() == 0, d.log_text()[-2000:]


def snapshot(port, query):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/snapshot?{query}") as r:
        return json.load(r)


def console_errors(drv):
    return [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def test_the_overview_lists_every_stream_with_the_snapshots_figures(fed):
    d, port, _ = fed
    drv = browser()
    try:
        drv.get(f"http://127.0.0.1:{port}/")
        rows = wait_for(lambda: len(drv.find_elements("css selector", "#streams tbody tr")) == 3
                        and drv.find_elements("css selector", "#streams tbody tr"), "3 rows")
        for row in rows:
            name = row.get_attribute("data-stream")
            snap = snapshot(port, "stream=" + urllib.request.quote(name))
            cell = {td.get_attribute("data-key"): td.text.split("\n")[0]
                    for td in row.find_elements("tag name", "td")}
            assert cell["n"] == shown(snap["n"])
            assert cell["ap"] == shown(snap["average_precision"])
            assert cell["auc"] == shown(snap["roc_auc"])
            assert cell["precision"] == shown(snap["thresholds"][0]["precision"])
        no_pos = [r for r in rows if r.get_attribute("data-stream") == "no positives"][0]
        assert no_pos.find_element("css selector", "[data-key=ap]").text.startswith("\u2014")
        # Sorting and filtering.
        drv.find_element("css selector", "th[data-key=n]").click()
        order = [r.get_attribute("data-stream")
                 for r in drv.find_elements("css selector", "#streams tbody tr")]
        assert order == ["fraud", "fraud-validation", "no positives"]  # n descending
        drv.find_element("id", "filter").send_keys("valid")
        wait_for(lambda: [r.get_attribute("data-stream") for r in drv.find_elements(
            "css selector", "#streams tbody tr")] == ["fraud-validation"], "the filtered row")
        assert console_errors(drv) == []
    finally:
        drv.quit()


def test_the_slider_shows_sklearns_confusion_at_its_threshold(fed):
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score
    d, port, data = fed
    y, s = data["fraud"]
    drv = browser()
    try:
        drv.get(f"http://127.0.0.1:{port}/#/stream/fraud")
        wait_for(lambda: drv.find_element("id", "t-value").text == "0.5", "the first threshold")
        slider = drv.find_element("id", "slider")
        start = int(slider.get_attribute("value"))
        slider.send_keys(*([Keys.ARROW_RIGHT] * 37))  # real key presses: input events
        assert int(slider.get_attribute("value")) == start + 37
        t = float(wait_for(lambda: drv.find_element("id", "t-value").text != "0.5" and
                           drv.find_element("id", "t-value").text, "a new threshold"))
        time.sleep(0.5)  # the row of the last key press
        t = float(drv.find_element("id", "t-value").text)  # the value as displayed, parsed back
        pred = s >= t
        tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
        wait_for(lambda: drv.find_element("id", "tp").text == str(tp), f"tp {tp} at {t}")
        for key, want in (("fp", fp), ("tn", tn), ("fn", fn)):
            assert drv.find_element("id", key).text == str(want), key
        assert drv.find_element("id", "t-exact").text == "exact"
        for key, want in (("precision", precision_score(y, pred)),
                          ("recall", recall_score(y, pred)), ("f1", f1_score(y, pred))):
            assert float(drv.find_element("id", key).text) == pytest.approx(want, rel=1e-5), key
        # Typing a value, and picking an operating point.
        box = drv.find_element("id", "threshold")
        box.clear()
        box.send_keys("0.25", Keys.ENTER)
        wait_for(lambda: drv.find_element("id", "t-value").text == "0.25", "a typed threshold")
        assert drv.find_element("id", "tp").text == str(int(((s >= 0.25) & (y == 1)).sum()))
        Select(drv.find_element("id", "op-kind")).select_by_value("recall")
        drv.find_element("id", "op-go").click()
        want = snapshot(port, "stream=fraud&recall=0.9")["operating_points"]["recall"][0]
        wait_for(lambda: drv.find_element("id", "t-value").text == shown(want["threshold"]),
                 "the operating point's threshold")
        assert console_errors(drv) == []
    finally:
        drv.quit()


def test_the_pr_chart_plots_the_snapshots_curve_and_a_window_change_shows_its_figures(fed):
    d, port, data = fed
    drv = browser()
    try:
        drv.get(f"http://127.0.0.1:{port}/#/stream/fraud")
        wait_for(lambda: drv.execute_script(
            "return window.evaldCharts.pr && window.evaldCharts.pr.data.datasets[0].data.length"),
            "the PR curve")
        curve = snapshot(port, "stream=fraud&curve=1")["curve"]
        plotted = drv.execute_script("return window.evaldCharts.pr.data.datasets[0].data")
        assert [(p["x"], p["y"]) for p in plotted] == list(zip(curve["recall"], curve["precision"]))
        ap_total = snapshot(port, "stream=fraud")["average_precision"]
        assert shown(ap_total) in drv.find_element("id", "ap").text
        Select(drv.find_element("id", "window")).select_by_value("5m")
        want = snapshot(port, "stream=fraud&window=5m")
        assert want["n"] == len(data["fraud-5m"][0])
        wait_for(lambda: f"n {want['n']} " in drv.find_element("id", "headline").text + " ",
                 "the 5m window's n")
        assert shown(want["average_precision"]) in drv.find_element("id", "ap").text
        assert console_errors(drv) == []
    finally:
        drv.quit()


def test_a_stream_without_positives_shows_a_dash_and_the_page_survives_a_restart(fed, tmp_path):
    d, port, _ = fed
    drv = browser()
    try:
        drv.get(f"http://127.0.0.1:{port}/#/stream/no%20positives")
        wait_for(lambda: drv.find_element("id", "ap").text.startswith("AP \u2014"), "AP as a dash")
        assert drv.find_element("id", "precision").text in ("\u2014", "0")
        assert d.stop() == 0
        wait_for(lambda: "unreachable" in drv.find_element("id", "status").text,
                 "that evald is unreachable")
        d.__init__(tmp_path, args=MANUAL, http={"listen": f"127.0.0.1:{port}"},
                   extra=d.config.read_text().split("[http]")[1].split("\n", 2)[2])
        wait_for(lambda: "updated" in drv.find_element("id", "status").text, "a refresh again")
        assert drv.find_element("id", "ap").text.startswith("AP \u2014")
    finally:
        drv.quit()


def test_screenshots_at_desktop_and_phone_widths_are_not_blank_and_nothing_leaves_evald(fed):
    d, port, _ = fed
    os.makedirs(SHOTS, exist_ok=True)
    for width, height, name in ((1280, 2000, "desktop"), (360, 3600, "phone")):
        drv = browser(width, height)
        try:
            for page, suffix in (("", "overview"), ("#/stream/fraud", "stream")):
                drv.get(f"http://127.0.0.1:{port}/{page}")
                wait_for(lambda: drv.find_element("tag name", "body").get_attribute(
                    "data-loaded"), "a completed refresh")
                if suffix == "stream":
                    wait_for(lambda: drv.execute_script(
                        "return window.evaldCharts.pr.data.datasets[0].data.length"), "charts")
                    # Every chart drew something: not a blank canvas.
                    drawn = drv.execute_script("""
                        return Object.values(window.evaldCharts).map((c) => {
                          const g = c.canvas.getContext('2d');
                          const px = g.getImageData(0, 0, c.canvas.width, c.canvas.height).data;
                          let ink = 0;
                          for (let i = 3; i < px.length; i += 4) if (px[i] > 0) ink++;
                          return ink;
                        });""")
                    assert drawn and min(drawn) > 500, drawn
                width_used = drv.execute_script(
                    "return [window.innerWidth, document.documentElement.scrollWidth]")
                assert width_used[0] == width and width_used[1] <= width + 1, (name, suffix,
                                                                               width_used)
                path = os.path.join(SHOTS, f"{suffix}-{name}.png")
                drv.save_screenshot(path)
                assert os.path.getsize(path) > 10_000
                hosts = drv.execute_script(
                    "return performance.getEntriesByType('resource').map((e) => e.name)")
                assert hosts and all(h.startswith(f"http://127.0.0.1:{port}/") or
                                     h.startswith("data:") for h in hosts), hosts
                assert console_errors(drv) == []
        finally:
            drv.quit()
    # The dark colour scheme: the page follows prefers-color-scheme.
    drv = browser(1280, 2000)
    try:
        drv.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": "dark"}]})
        drv.get(f"http://127.0.0.1:{port}/#/stream/fraud")
        wait_for(lambda: drv.execute_script(
            "return window.evaldCharts.pr && window.evaldCharts.pr.data.datasets[0].data.length"),
            "charts")
        background = drv.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 21, 28)", background
        drv.save_screenshot(os.path.join(SHOTS, "stream-dark.png"))
        assert console_errors(drv) == []
    finally:
        drv.quit()
    assert set(os.listdir(SHOTS)) >= {f"{p}-{w}.png" for p in ("overview", "stream")
                                      for w in ("desktop", "phone", "dark") if p == "stream" or
                                      w != "dark"}


def test_the_page_refreshes_every_5_s_keeps_the_threshold_and_pauses_while_hidden(fed):
    d, port, _ = fed
    drv = browser()
    try:
        drv.get(f"http://127.0.0.1:{port}/#/stream/fraud")
        wait_for(lambda: drv.find_element("id", "t-value").text == "0.5", "the first threshold")
        box = drv.find_element("id", "threshold")
        box.clear()
        box.send_keys("0.3", Keys.ENTER)
        wait_for(lambda: drv.find_element("id", "t-value").text == "0.3", "a typed threshold")
        first = int(drv.find_element("tag name", "body").get_attribute("data-loaded"))
        later = int(wait_for(lambda: int(drv.find_element("tag name", "body").get_attribute(
            "data-loaded")) > first and drv.find_element("tag name", "body").get_attribute(
            "data-loaded"), "a refresh"))
        assert later > first
        assert drv.find_element("id", "t-value").text == "0.3"  # the threshold kept
        # A hidden tab: no refresh while it is hidden, one as soon as it shows again.
        drv.execute_script("Object.defineProperty(document, 'hidden', {value: true, "
                           "configurable: true})")
        hidden_at = int(drv.find_element("tag name", "body").get_attribute("data-loaded"))
        time.sleep(6)
        assert int(drv.find_element("tag name", "body").get_attribute("data-loaded")) == hidden_at
        drv.execute_script("Object.defineProperty(document, 'hidden', {value: false, "
                           "configurable: true}); document.dispatchEvent(new Event("
                           "'visibilitychange'))")
        wait_for(lambda: int(drv.find_element("tag name", "body").get_attribute(
            "data-loaded")) > hidden_at, "a refresh once visible")
        assert console_errors(drv) == []
    finally:
        drv.quit()



def test_the_page_asks_for_a_token_and_keeps_it_for_the_session(tmp_path):
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait
    tokens = tmp_path / "tokens"
    tokens.write_text("read page-read-token-1\n")
    os.chmod(tokens, 0o600)
    d = Daemon(tmp_path, extra=f"[auth]\ntokens_file = {tokens}\n")
    drv = browser()
    try:
        with d.client("unix") as c:  # a trusted Unix peer
            c.request({"op": "observe", "stream": "guarded", "label": 1, "score": 0.9, "id": 1})
        drv.get(f"http://127.0.0.1:{d.http_port}/")
        alert = WebDriverWait(drv, WAIT).until(expected_conditions.alert_is_present())
        alert.send_keys("page-read-token-1")
        alert.accept()
        wait_for(lambda: [r.get_attribute("data-stream") for r in drv.find_elements(
            "css selector", "#streams tbody tr")] == ["guarded"], "the stream, with a token")
        assert drv.execute_script("return sessionStorage.getItem('evald-token')") == \
            "page-read-token-1"
        assert drv.execute_script("return localStorage.length") == 0
        drv.get(f"http://127.0.0.1:{d.http_port}/#/stream/guarded")  # no second prompt
        wait_for(lambda: drv.find_element("id", "headline").text.startswith("n 1 "),
                 "the stream's page")
        assert [e for e in console_errors(drv) if "401" not in e["message"]] == []
    finally:
        drv.quit()
        assert d.stop() == 0, d.log_text()[-2000:]
    assert "page-read-token-1" not in d.log.read_text()
