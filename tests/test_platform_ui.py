"""The platform end to end, the way a user drives it: `scripts/start` in a terminal, the Airflow UI in a
real browser, the REST API, and Ctrl-C.

One `scripts/start` (in a pseudo-terminal, CLEARFRAME_HOME in a temporary folder, Airflow's API on a free
port) serves every test in this module; the last test stops it with Ctrl-C. The browser is Debian's
chromium (`/usr/bin/chromium`), driven by Playwright; Playwright never downloads a browser here. Without
chromium the tests are skipped (install it with `apt-get install chromium`), except under CI=true, where
they fail.

UI selectors (Airflow 3.3, read from the running UI):
- login page `/auth/login`: `input[name=username]`, `input[name=password]`, button "Sign in";
- Dag list `/dags`: a link named after the dag id; Dag page: `[data-testid=trigger-dag-button]`;
- trigger dialog (role dialog): param inputs `input[name=element_<param>]` (Chakra number inputs),
  "Advanced Options" holds the "Configuration JSON" Monaco editor (`.monaco-editor`), the submit button
  `[data-testid=trigger-dag-submit]`, a refused trigger shows `[data-testid=error-alert]`;
- runs view `/dags/<dag>/runs`: table rows, state in `[data-testid=table-cell-state]`;
- run page `/dags/<dag>/runs/<run_id>`: task instance table with the rendered map index;
  grid cells `[data-testid=grid-<run_id>-<task_id>]`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import pytest
import requests

from clearframe.naming import storage_run_id

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEMO_SITE_PORT = 8765  # fixed in scripts/start
DAG = "ingest__demo_delivery"
START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 300
STOP_TIMEOUT_S = 30
UI_TIMEOUT_MS = 30_000
MAP_INDEX_RE = re.compile(
    r"^batch (\d{5}): (\d+) cand, allow (\d+), deny (\d+), defer (\d+), review (\d+), "
    r"fetched (\d+), quarantined (\d+), (\d+) B$")


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    """Skip on a developer machine; fail under CI=true, where the test must run."""
    if _ci():
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))  # Airflow's API server binds 0.0.0.0
        return int(s.getsockname()[1])


def _alive(p: psutil.Process) -> bool:
    """Still running (the same process: psutil checks its start time) and not a zombie."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(p: psutil.Process) -> str:
    """A process's command line, or "" for one that exited meanwhile (a task process not yet reaped)."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Platform:
    proc: subprocess.Popen[bytes]
    master: int
    home: Path
    airflow_home: Path
    base: str
    ports: dict[str, int]
    log_path: Path
    shots: Path
    password: str = ""
    _out: bytearray = field(default_factory=bytearray)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread | None = None
    _token: str = ""

    # terminal output
    def output(self) -> str:
        with self._lock:
            return self._out.decode("utf-8", "replace")

    def _read_terminal(self) -> None:
        with open(self.log_path, "ab") as log:
            while True:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: every slave end is closed, the script has exited
                    return
                if not chunk:
                    return
                log.write(chunk)
                log.flush()
                with self._lock:
                    self._out.extend(chunk)

    def tail(self, n: int = 4000) -> str:
        out = self.output()[-n:]
        standalone = self.airflow_home / "standalone.log"
        if standalone.exists():
            out += f"\n--- tail of {standalone} ---\n" + standalone.read_text(errors="replace")[-n:]
        return out

    # Processes started by the script. Some Airflow processes rewrite their title (setproctitle), which
    # also blanks /proc/<pid>/environ, so they are found by session as well: the script, the demo site
    # and `airflow standalone` each lead a session, and everything they start stays in one of these.
    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sessions(self) -> set[int]:
        sids = set()
        for p in self.tree():
            with contextlib.suppress(OSError):
                sids.add(os.getsid(p.pid))
        sids.discard(os.getsid(0))  # never this test's own session
        return sids

    def processes(self, sessions: set[int] = frozenset()) -> list[psutil.Process]:
        """Live processes in `sessions`, or whose environment or command line names this home."""
        markers = {f"CLEARFRAME_HOME={self.home}", f"AIRFLOW_HOME={self.airflow_home}"}
        found = []
        for p in psutil.process_iter():
            if p.pid == os.getpid():
                continue
            try:
                if p.status() == psutil.STATUS_ZOMBIE:
                    continue
                if os.getsid(p.pid) in sessions:
                    found.append(p)
                    continue
                env = p.environ()
                cmd = " ".join(p.cmdline())
            except (psutil.Error, OSError):
                continue
            if markers & {f"{k}={v}" for k, v in env.items()} or str(self.home) in cmd:
                found.append(p)
        return found

    # REST
    def token(self) -> str:
        if not self._token:
            r = requests.post(f"{self.base}/auth/token",
                              json={"username": "admin", "password": self.password}, timeout=30)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        return requests.request(method, f"{self.base}/api/v2{path}", headers=headers, timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        r = self.api("GET", path, **kw)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:500]}"
        return r.json()


def _start(tmp: Path) -> Platform:
    home = tmp / "home"
    ports = {"api": _free_port(), "worker_logs": _free_port(), "trigger_logs": _free_port()}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "CLEARFRAME_"))}  # nothing of the caller's setup leaks in
    env.update({
        "CLEARFRAME_HOME": str(home),
        "AIRFLOW__API__PORT": str(ports["api"]),
        # the log servers' fixed default ports (8793, 8794) would clash with a platform already running
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["worker_logs"]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger_logs"]),
        "TERM": "xterm",
    })
    master, slave = os.openpty()

    def controlling_tty() -> None:  # runs in the child after setsid(): make the pty its terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([str(ROOT / "scripts" / "start")], cwd=ROOT, env=env, stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True, preexec_fn=controlling_tty)
    os.close(slave)
    plat = Platform(proc=proc, master=master, home=home, airflow_home=home / "airflow",
                    base=f"http://localhost:{ports['api']}", ports=ports, log_path=tmp / "start.log",
                    shots=tmp / "shots")
    plat.shots.mkdir()
    plat._reader = threading.Thread(target=plat._read_terminal, daemon=True)
    plat._reader.start()
    return plat


def _wait_until_ready(plat: Platform) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while "ClearFrame is running." not in plat.output():
        if plat.proc.poll() is not None:
            pytest.fail(f"scripts/start exited with {plat.proc.returncode} before it was running:\n{plat.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no 'ClearFrame is running.' within {START_TIMEOUT_S} s:\n{plat.tail()}")
        time.sleep(0.5)
    time.sleep(0.5)  # the rest of the message
    m = re.search(r"\(user: admin, password: ([^\s)]+)\)", plat.output())
    assert m, f"no admin password in the output of scripts/start:\n{plat.output()}"
    plat.password = m.group(1)
    assert f"localhost:{plat.ports['api']}" in plat.output()
    # The DAG processor may not have parsed the DAG files yet when the message is printed.
    deadline = time.monotonic() + 120
    while True:
        try:
            r = plat.api("GET", f"/dags/{DAG}")
            seen = f"{r.status_code} {r.text[:300]}"
            if r.status_code == 200 and not r.json()["is_paused"]:
                return
        except requests.RequestException as exc:  # the script says "running" even if the API never came up
            seen = repr(exc)
        if plat.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{DAG} not loaded and unpaused 120 s after start ({seen})\n{plat.tail()}")
        time.sleep(2)


def _stop(plat: Platform, timeout: float) -> bool:
    """Ctrl-C in the terminal; True if the script exited within `timeout`."""
    if plat.proc.poll() is None:
        with contextlib.suppress(OSError):
            os.write(plat.master, b"\x03")
        with contextlib.suppress(subprocess.TimeoutExpired):
            plat.proc.wait(timeout)
    return plat.proc.poll() is not None


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: install it with `apt-get install chromium` "
                     "(Playwright never downloads a browser here)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is missing: run scripts/bootstrap")
    return CHROMIUM


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, chromium: Path) -> Iterator[Platform]:
    if _port_open(DEMO_SITE_PORT):
        _unavailable(f"port {DEMO_SITE_PORT} (the demo site of scripts/start) is in use; "
                     "is another ClearFrame running? Stop it first")
    plat = _start(tmp_path_factory.mktemp("platform"))
    try:
        _wait_until_ready(plat)
        yield plat
    finally:
        # Safety net when a test failed before the Ctrl-C test: stop the script, then any process it left.
        sessions, started = plat.sessions(), plat.tree()
        if not _stop(plat, STOP_TIMEOUT_S):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(plat.proc.pid, signal.SIGKILL)
            plat.proc.wait(10)
        for p in [*plat.processes(sessions), *filter(_alive, started)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        with contextlib.suppress(OSError):
            os.close(plat.master)
        if plat._reader:
            plat._reader.join(5)


@contextlib.contextmanager
def _browser(plat: Platform, chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


@contextlib.contextmanager
def _step(page: Any, plat: Platform, name: str) -> Iterator[None]:
    """On failure, save a screenshot and the page's HTML under the module's tmp folder."""
    try:
        yield
    except BaseException as exc:
        shot = plat.shots / f"{name}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
            (plat.shots / f"{name}.html").write_text(page.content())
        raise AssertionError(f"UI step {name!r} failed (screenshot: {shot}; url: {page.url}): {exc}") from exc


def _login(page: Any, plat: Platform) -> None:
    with _step(page, plat, "login"):
        page.goto(f"{plat.base}/")
        page.wait_for_url(re.compile(r"/auth/login"))
        page.locator("input[name=username]").fill("admin")
        page.locator("input[name=password]").fill(plat.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url)
        page.get_by_test_id("nav-sidebar").wait_for()


def _open_trigger_form(page: Any, plat: Platform) -> Any:
    from playwright.sync_api import expect

    page.goto(f"{plat.base}/dags")
    page.get_by_role("link", name=DAG, exact=True).click()
    page.wait_for_url(re.compile(rf"/dags/{DAG}(/.*)?$"))
    page.get_by_test_id("header-card").filter(has_text=DAG).wait_for()
    trigger = page.get_by_test_id("trigger-dag-button")
    expect(trigger).to_have_count(1)  # the Dag list, with one per Dag, is gone
    trigger.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"Trigger Dag - {DAG}").wait_for()
    dialog.locator("input[name=element_limit]").wait_for()
    return dialog


def _set_conf_json(page: Any, dialog: Any, conf: dict[str, Any]) -> None:
    """Replace the text of the trigger form's "Configuration JSON" editor (Monaco)."""
    if not dialog.locator(".monaco-editor").first.is_visible():
        dialog.get_by_text("Advanced Options").click()
    editor = dialog.locator(".monaco-editor").first
    editor.wait_for()
    editor.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(json.dumps(conf))  # insert_text: no auto-closed brackets or quotes


def _is_trigger_post(resp: Any) -> bool:
    return resp.request.method == "POST" and resp.url.endswith(f"/api/v2/dags/{DAG}/dagRuns")


def _runs(plat: Platform) -> list[dict[str, Any]]:
    return plat.get(f"/dags/{DAG}/dagRuns", params={"limit": 100})["dag_runs"]


def _ti_states(plat: Platform, run_id: str) -> dict[str, Any]:
    try:
        tis = plat.get(f"/dags/{DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances")["task_instances"]
    except Exception as exc:  # only for a failure message
        return {"error": repr(exc)}
    return {f"{t['task_id']}[{t['map_index']}]": (t["state"], t["try_number"]) for t in tis}


def test_trigger_from_the_form_runs_to_success(platform: Platform, chromium: Path) -> None:
    plat = platform
    with _browser(plat, chromium) as page:
        _login(page, plat)

        with _step(page, plat, "trigger"):
            dialog = _open_trigger_form(page, plat)
            limit = dialog.locator("input[name=element_limit]")
            assert limit.input_value() == ""  # default: all candidates
            limit.fill("4")
            limit.press("Tab")
            assert limit.input_value() == "4"
            with page.expect_response(_is_trigger_post) as resp_info:
                dialog.get_by_test_id("trigger-dag-submit").click()
            resp = resp_info.value
            assert resp.status == 200, f"trigger refused: {resp.status} {resp.text()}"
            run = resp.json()
            run_id = run["dag_run_id"]
            assert run["conf"]["limit"] == 4, run["conf"]
            page.get_by_text("Dag Run Triggered").first.wait_for()

        with _step(page, plat, "runs_view"):
            # The runs view of the DAG (its "Runs" tab), polled until the run is finished.
            page.goto(f"{plat.base}/dags/{DAG}")
            page.locator(f'a[href$="/dags/{DAG}/runs"]').first.click()
            page.wait_for_url(re.compile(rf"/dags/{DAG}/runs$"))
            deadline = time.monotonic() + RUN_TIMEOUT_S
            state = ""
            while True:
                row = page.get_by_role("row").filter(has_text=run_id)
                if row.count():
                    state = row.first.get_by_test_id("table-cell-state").inner_text().strip().lower()
                if state in {"success", "failed"} or time.monotonic() > deadline:
                    break
                time.sleep(3)
                page.reload()
                page.get_by_test_id("table-list").wait_for()
            assert state == "success", (f"run {run_id} shows {state!r} in the runs view after polling; "
                                        f"task instances: {_ti_states(plat, run_id)}\n{plat.tail()}")
            page.screenshot(path=str(plat.shots / "run_success.png"))

        with _step(page, plat, "run_page"):
            page.get_by_role("row").filter(has_text=run_id).get_by_role("link", name=run_id).first.click()
            page.wait_for_url(re.compile(r"/runs/.+"))
            page.get_by_test_id("header-card").get_by_test_id("state-badge").filter(has_text="Success").wait_for()
            for task in ("discover", "gate_fetch_inspect", "publish"):
                page.get_by_test_id(f"grid-{run_id}-{task}").first.wait_for()
            page.get_by_text(re.compile(r"batch 00000: 4 cand, allow \d+")).first.wait_for()

    # The same run through the REST API.
    run = plat.get(f"/dags/{DAG}/dagRuns/{quote(run_id, safe='')}")
    assert run["state"] == "success"
    assert run["conf"]["limit"] == 4 and run["conf"]["batch_size"] == 5 and run["conf"]["dry_run"] is False
    assert run["triggered_by"] == "ui"

    tis = plat.get(f"/dags/{DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances")["task_instances"]
    mapped = [t for t in tis if t["task_id"] == "gate_fetch_inspect"]
    assert mapped and all(t["map_index"] >= 0 and t["state"] == "success" for t in mapped), mapped
    per_batch = []
    for t in mapped:
        label = t["rendered_map_index"] or ""
        m = MAP_INDEX_RE.match(label)
        assert m, f"rendered_map_index {label!r} is not 'batch NNNNN: N cand, allow N, ...'"
        cand, allow, deny, defer, review, fetched, quarantined, _bytes = map(int, m.groups()[1:])
        assert allow + deny + defer + review == cand, label
        assert fetched <= allow and quarantined <= fetched, label
        per_batch.append((cand, allow, deny, defer, review, fetched))
    assert sum(b[0] for b in per_batch) == 4, per_batch
    assert len(mapped) == 1  # 4 candidates, batch_size 5

    xcom = plat.get(f"/dags/{DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances/publish/xcomEntries/return_value")
    totals = xcom["value"]
    if isinstance(totals, str):
        totals = json.loads(totals)
    assert totals["candidates"] == 4, totals
    for i, key in enumerate(("candidates", "allow", "deny", "defer", "review", "fetched")):
        assert totals[key] == sum(b[i] for b in per_batch), (key, totals, per_batch)

    import pyarrow.parquet as pq

    ledger = plat.home / "storage" / "ledger" / "demo_delivery" / f"run={storage_run_id(run_id)}"
    files = sorted(ledger.glob("*.parquet"))
    assert files, f"no ledger files in {ledger}"
    assert sum(pq.read_metadata(f).num_rows for f in files) == 4


def test_invalid_limit_is_refused(platform: Platform, chromium: Path) -> None:
    plat = platform
    runs_before = {r["dag_run_id"] for r in _runs(plat)}

    # REST: the param schema (integer >= 1 or null) is enforced by the API server.
    for bad in (-3, 0, "abc", 1.5):
        r = plat.api("POST", f"/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": {"limit": bad}})
        assert 400 <= r.status_code < 500, f"limit={bad!r} accepted: {r.status_code} {r.text[:300]}"
        assert "limit" in r.text, r.text

    with _browser(plat, chromium) as page:
        _login(page, plat)
        with _step(page, plat, "invalid_form"):
            dialog = _open_trigger_form(page, plat)
            submit = dialog.get_by_test_id("trigger-dag-submit")
            limit = dialog.locator("input[name=element_limit]")
            # The number field takes no letters, and it clamps a value below the minimum.
            limit.press_sequentially("abc")
            assert limit.input_value() == ""
            limit.fill("-3")
            limit.press("Tab")
            assert limit.input_value() == "1", "the form kept limit=-3"
            limit.fill("")
            limit.press("Tab")
            # A required param left empty disables the trigger button and says why.
            batch_size = dialog.locator("input[name=element_batch_size]")
            batch_size.fill("")
            batch_size.press("Tab")
            dialog.get_by_text("This field is required").wait_for()
            assert submit.is_disabled()
            batch_size.fill("5")
            batch_size.press("Tab")
            assert submit.is_enabled()

        with _step(page, plat, "invalid_conf"):
            # An out-of-range value typed into the Configuration JSON is refused when triggering,
            # and the dialog stays open with the API's message.
            for bad, message in ((-3, "-3 is less than the minimum of 1"), ("abc", "'abc' is not of type")):
                _set_conf_json(page, dialog, {"limit": bad, "batch_size": 5, "dry_run": False})
                with page.expect_response(_is_trigger_post) as resp_info:
                    submit.click()
                assert resp_info.value.status == 400, resp_info.value.text()
                alert = dialog.get_by_test_id("error-alert")
                alert.filter(has_text=message).wait_for()
                assert "Invalid input for param limit" in alert.inner_text()
                assert dialog.is_visible()
            page.screenshot(path=str(plat.shots / "invalid_refused.png"))

    assert {r["dag_run_id"] for r in _runs(plat)} == runs_before, "an invalid trigger created a run"


def test_ctrl_c_stops_everything(platform: Platform) -> None:
    plat = platform
    started = plat.tree()
    sessions = plat.sessions()
    names = " ".join(_cmdline(p) for p in started)
    assert "clearframe.demo_site" in names and "airflow standalone" in names and "airflow scheduler" in names, names
    assert len(sessions) >= 3, sessions  # the script's, the demo site's and airflow standalone's
    assert _port_open(plat.ports["api"]) and _port_open(DEMO_SITE_PORT)

    t0 = time.monotonic()
    os.write(plat.master, b"\x03")  # Ctrl-C in the terminal: SIGINT to the script's foreground group
    try:
        plat.proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"scripts/start still running {STOP_TIMEOUT_S} s after Ctrl-C:\n{plat.tail()}")
    assert "Stopping ClearFrame" in plat.output()

    ports = {"api": plat.ports["api"], "worker_logs": plat.ports["worker_logs"],
             "trigger_logs": plat.ports["trigger_logs"], "demo_site": DEMO_SITE_PORT}
    while True:
        left = list({p.pid: p for p in [*plat.processes(sessions), *filter(_alive, started)]}.values())
        listening = {name: port for name, port in ports.items() if _port_open(port)}
        if (not left and not listening) or time.monotonic() - t0 > STOP_TIMEOUT_S:
            break
        time.sleep(0.5)
    described = []
    for p in left:
        with contextlib.suppress(psutil.Error):
            described.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
    assert not left, f"processes left {STOP_TIMEOUT_S} s after Ctrl-C: {described}"
    assert not listening, f"ports still open {STOP_TIMEOUT_S} s after Ctrl-C: {listening}"
    print(f"stopped {len(started)} processes in {len(sessions)} sessions, {time.monotonic() - t0:.1f} s after Ctrl-C")
