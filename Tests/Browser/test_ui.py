#!/usr/bin/env python3
"""Browser tests of the CosmicAC console (Services/AppUI) in headless Chromium through caddy,
against the real services of a running scripts/dev-up. Run by scripts/check-ui.

Each check asserts what a user would notice; the run prints one line per check, the first-load
figures, and exits 1 when any check failed. Every page's screenshot goes to --screenshots.
"""

import argparse
import json
import os
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

RUN = time.strftime("%H%M%S")


class Failure(Exception):
    """A check's assertion failed."""


def check(condition, message):
    if not condition:
        raise Failure(message)


# --- the API, for setup and for acting "from another tab" -----------------------------------------


class API:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, token=None, headers=None, prefix="/api/v1"):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + prefix + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        for _ in range(20):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    text = response.read().decode()
                    return response.status, (json.loads(text) if text else None)
            except urllib.error.HTTPError as error:
                text = error.read().decode()
                if error.code == 429:
                    time.sleep(float(error.headers.get("Retry-After") or 1))
                    continue
                try:
                    return error.code, json.loads(text)
                except ValueError:
                    return error.code, text
        raise Failure(f"{method} {path}: still rate-limited after 20 tries")

    def login(self, name, password):
        status, body = self.call("POST", "/auth/login", {"name": name, "password": password})
        check(status == 200, f"login of {name} answered {status}: {body}")
        return body["token"]


# --- the browser ----------------------------------------------------------------------------------


def new_driver():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1440,1000", "--disable-extensions", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(path):
            options.binary_location = path
            break
    driver_path = next((p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if os.path.exists(p)), None)
    service = Service(executable_path=driver_path) if driver_path else Service()
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    return driver


class Browser:
    def __init__(self, base, shots):
        self.base = base
        self.shots = shots
        self.driver = new_driver()
        self.taken = []

    def go(self, hash_path):
        target = self.base + "/" + hash_path
        if self.driver.current_url == target:
            self.driver.refresh()
        else:
            self.driver.get(target)

    def find(self, css, timeout=15, visible=True):
        def present(driver):
            for element in driver.find_elements(By.CSS_SELECTOR, css):
                if not visible or element.is_displayed():
                    return element
            return False

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)).until(present)
        except TimeoutException:
            raise Failure(f"'{css}' did not appear within {timeout}s (page {self.driver.current_url})") from None

    def wait(self, predicate, timeout, what):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: predicate())
        except TimeoutException:
            raise Failure(f"timed out after {timeout}s waiting for {what}") from None

    def type(self, css, text, clear=True):
        element = self.find(css)
        if clear:
            element.clear()
        element.send_keys(text)
        return element

    def click(self, css):
        for attempt in range(5):  # the page may re-render the element as a job changes
            element = self.find(css)
            try:
                self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
                element.click()
                return element
            except StaleElementReferenceException:
                if attempt == 4:
                    raise
                time.sleep(0.1)

    def confirm(self):
        self.find("dialog#confirm[open]")
        self.click("#confirm-ok")
        self.wait(lambda: not self.driver.execute_script("return document.getElementById('confirm').open"), 5,
                  "the confirmation dialog to close")

    def screenshot(self, name):
        path = os.path.join(self.shots, f"{len(self.taken) + 1:02d}-{name}.png")
        height = self.driver.execute_script("return Math.max(document.body.scrollHeight, 1000)")
        self.driver.set_window_size(1440, min(int(height) + 40, 4000))
        self.driver.save_screenshot(path)
        self.driver.set_window_size(1440, 1000)
        self.taken.append(path)

    def session_token(self):
        cookies = self.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        for cookie in cookies:
            if cookie["name"] == "cosmicac_session" and cookie["value"]:
                return cookie["value"]
        raise Failure("the browser holds no cosmicac_session cookie")

    def text(self, css, timeout=15):
        """The visible text of `css`, read in one step (pages re-render as jobs change)."""
        script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : null"
        self.wait(lambda: self.driver.execute_script(script, css) is not None, timeout, f"'{css}'")
        return self.driver.execute_script(script, css) or ""

    def attribute(self, css, name):
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null", css, name)

    def phase_in_detail(self):
        return self.attribute("#job-detail > p .badge", "data-phase")

    def close(self):
        self.driver.quit()


# --- the checks -----------------------------------------------------------------------------------


class Suite:
    def __init__(self, args):
        self.args = args
        self.base = args.base_url.rstrip("/")
        self.api = API(self.base)
        with open(args.admin_password_file) as handle:
            self.admin_password = handle.read().strip()
        self.browser = Browser(self.base, args.screenshots)
        self.results = []
        self.state = {}
        self.figures = []

    def run(self, name, function):
        started = time.monotonic()
        try:
            function()
            self.results.append((name, True, ""))
            print(f"ok    {name} ({time.monotonic() - started:.1f}s)", flush=True)
        except Exception as error:  # every failure is reported; the run goes on where it can
            detail = str(error) if isinstance(error, Failure) else traceback.format_exc(limit=3)
            self.results.append((name, False, detail))
            print(f"FAIL  {name} ({time.monotonic() - started:.1f}s): {detail}", flush=True)
            try:
                self.browser.screenshot("failure-" + name.replace(" ", "-")[:40])
            except Exception:
                pass

    # sign in ------------------------------------------------------------------------------------

    def wrong_password(self):
        b = self.browser
        b.go("#/login")
        deadline = time.monotonic() + 90
        while True:  # waits out app-node's login rate limit when runs follow each other closely
            b.type("#login-name", "admin")
            b.type("#login-password", "not-the-password-" + RUN)
            if not b.taken:
                b.screenshot("sign-in")
            b.click("button[type=submit]")
            b.wait(lambda: b.text("#login-error"), 10, "an answer to the wrong password")
            if "Too many requests" not in b.text("#login-error") or time.monotonic() > deadline:
                break
            time.sleep(2)
        check("wrong" in b.text("#login-error"), f"the wrong-password message: {b.text('#login-error')!r}")
        check(not b.find("#top", visible=False).is_displayed(), "the navigation is shown without a session")
        check(b.driver.find_element(By.CSS_SELECTOR, "#login-password").get_attribute("value") == "",
              "the wrong password stays in the field")
        b.screenshot("sign-in-wrong-password")

    def ui_login(self, name, password):
        """Signs in through the form; waits out app-node's login rate limit (several runs in a row)."""
        b = self.browser
        deadline = time.monotonic() + 90
        while True:
            b.type("#login-name", name)
            b.type("#login-password", password)
            b.click("button[type=submit]")
            b.wait(lambda: "#/login" not in b.driver.current_url or b.text("#login-error", timeout=1), 15,
                   "the sign-in answer")
            if "#/login" not in b.driver.current_url:
                return
            error = b.text("#login-error")
            check("Too many requests" in error and time.monotonic() < deadline, f"sign-in failed: {error!r}")
            time.sleep(2)

    def sign_in(self):
        b = self.browser
        b.go("#/login")
        self.ui_login("admin", self.admin_password)
        b.find("#jobs-body")
        b.wait(lambda: b.driver.current_url.endswith("#/jobs"), 10, "the jobs page after signing in")
        check("admin" in b.text("#who-name"), "the header names the signed-in user")
        b.find("#jobs-table, #jobs-body .empty")
        b.wait(lambda: "Live updates on" in b.text("#live-status"), 10, "the job stream to connect")
        b.screenshot("jobs")

    # GPU container ------------------------------------------------------------------------------

    def create_container(self):
        b = self.browser
        b.click("a[data-nav=new]")
        b.find("#create-form")
        b.find("#cap-title")
        b.wait(lambda: b.driver.find_elements(By.CSS_SELECTOR, "#fit, aside .muted, aside .empty"), 10,
               "the capacity panel")
        # Validation before submit: an empty name and zero GPUs are named, and nothing is created.
        b.type("#job-name", "")
        b.type("#job-gpu-count", "0")
        b.click("#create-submit")
        summary = b.find("#form-errors .alert")
        check("Name" in summary.text and "GPUs per node" in summary.text, f"validation summary: {summary.text!r}")
        check(b.driver.find_element(By.CSS_SELECTOR, "#job-name").get_attribute("aria-invalid") == "true",
              "the name field is marked invalid")
        check(b.driver.switch_to.active_element.get_attribute("id") == "job-name", "focus moves to the first invalid field")
        b.screenshot("create-job-validation")
        name = "ui-box-" + RUN
        b.type("#job-name", name)
        b.type("#job-tags", "ui, browser")
        b.type("#job-gpu-count", "1")
        fit = b.find("#fit")
        check("Fits now" in fit.text, f"the local rack should fit one GPU: {fit.text!r}")
        b.screenshot("create-job-gpu-container")
        b.click("#create-submit")
        b.wait(lambda: "#/jobs/job_" in b.driver.current_url, 15, "the new job's page")
        job_id = b.driver.current_url.rsplit("/", 1)[1]
        self.state["container"] = job_id
        b.find("#shell-command")
        check(b.text("#shell-command") == f"cosmicac jobs shell {job_id}", "the exact shell command")
        b.wait(lambda: b.phase_in_detail() == "running", 180, f"job {job_id} to reach running (now {b.phase_in_detail()})")
        events = b.text("#job-events")
        check("create" in events, f"the timeline shows the create event: {events!r}")
        b.screenshot("job-detail-gpu-container")

    def live_list(self):
        b = self.browser
        job_id = self.state["container"]
        b.click("a[data-nav=jobs]")
        row = f"tr[data-job-id='{job_id}']"
        b.find(row)
        b.wait(lambda: "Live updates on" in b.text("#live-status"), 10, "the job stream to connect")
        b.driver.execute_script("window.__noReload = true")
        status, body = self.api.call("POST", f"/jobs/{job_id}/stop", token=b.session_token())
        check(status == 202, f"stop over the API answered {status}: {body}")
        b.wait(lambda: b.attribute(row + " .badge", "data-phase") in ("stopping", "stopped"),
               60, "the list's phase to change without reloading")
        check(b.driver.execute_script("return window.__noReload === true"), "the page was reloaded")
        b.wait(lambda: b.attribute(row + " .badge", "data-phase") == "stopped", 120,
               "the list to show stopped")

    def start_stop_delete(self):
        b = self.browser
        job_id = self.state["container"]
        b.go(f"#/jobs/{job_id}")
        b.find("#job-actions")
        b.wait(lambda: b.phase_in_detail() == "stopped", 60, "stopped in the detail page")
        b.click("#job-start")
        b.confirm()
        b.wait(lambda: b.phase_in_detail() == "running", 180, f"running after start (now {b.phase_in_detail()})")
        b.click("#job-stop")
        b.confirm()
        b.wait(lambda: b.phase_in_detail() == "stopped", 120, f"stopped after stop (now {b.phase_in_detail()})")
        # Cancelling the confirmation changes nothing.
        b.click("#job-delete")
        b.find("dialog#confirm[open]")
        b.click("dialog#confirm button[value=cancel]")
        time.sleep(0.5)
        status, job = self.api.call("GET", f"/jobs/{job_id}", token=b.session_token())
        check(status == 200 and job["desired"] != "deleted", "a cancelled delete was sent")
        b.click("#job-delete")
        b.confirm()
        b.wait(lambda: b.phase_in_detail() in ("deleting", "deleted"), 60, f"deleting (now {b.phase_in_detail()})")
        b.wait(lambda: b.phase_in_detail() == "deleted", 120, f"deleted (now {b.phase_in_detail()})")
        b.find("#job-desired")
        check(b.text("#job-desired") == "deleted", "desired state deleted")
        b.screenshot("job-detail-deleted")

    # API keys and inference -----------------------------------------------------------------------

    def api_key(self):
        b = self.browser
        b.click("a[data-nav=keys]")
        b.find("#keys-list")
        b.type("#key-name", "ui-test-" + RUN)
        b.click("#create-key")
        secret = b.find("#new-key-secret").text
        check(secret.startswith("cak_"), f"the new key is shown: {secret[:8]!r}")
        check(not b.find("#key-done").is_enabled(), "Done is enabled before confirming the key was saved")
        b.screenshot("api-key-created")
        b.click("#key-saved")
        check(b.find("#key-done").is_enabled(), "Done stays disabled after confirming")
        b.click("#key-done")
        b.wait(lambda: not b.driver.find_elements(By.CSS_SELECTOR, "#new-key"), 5, "the secret to disappear")
        check(secret not in b.driver.page_source, "the secret is still in the page after Done")
        b.find("#keys-table")
        check("ui-test-" + RUN in b.text("#keys-table"), "the new key is listed")
        self.state["key"] = secret
        b.screenshot("api-keys")

    def revoke_key(self):
        b = self.browser
        token = b.session_token()
        status, created = self.api.call("POST", "/api-keys", {"name": "revoke-me-" + RUN}, token=token)
        check(status == 201, f"key create answered {status}")
        b.go("#/keys")
        b.click(f"tr[data-key-id='{created['apiKey']['id']}'] button")
        b.confirm()
        b.wait(lambda: "revoked" in b.text(f"tr[data-key-id='{created['apiKey']['id']}']"), 10, "the key to show revoked")

    def inference_job(self):
        b = self.browser
        b.click("a[data-nav=new]")
        b.find("#create-form")
        b.click("#kind-managed-inference")
        name = "ui-chat-" + RUN
        b.type("#job-name", name)
        b.type("#job-tags", "ui, inference")
        b.type("#job-model", "cosmicac/test-model")
        b.find("#job-endpoint")
        check(b.find("#job-auth").is_selected(), "endpoints require an API key by default")
        b.screenshot("create-job-managed-inference")
        b.click("#create-submit")
        b.wait(lambda: "#/jobs/job_" in b.driver.current_url, 15, "the inference job's page")
        job_id = b.driver.current_url.rsplit("/", 1)[1]
        self.state["inference"] = (job_id, name)
        b.find("#endpoint-url")
        check(b.text("#endpoint-url") == self.base + "/inference/v1/chat/completions", "the endpoint URL")
        check(f'"model": "{name}"' in b.text("#curl-example"), "the curl example names the endpoint")

        def phase():
            status, job = self.api.call("GET", f"/jobs/{job_id}", token=b.session_token())
            self.state["inference-message"] = job.get("message") if status == 200 else job
            return job["phase"] if status == 200 else None

        b.wait(lambda: phase() == "running", 240,
               f"the inference job to run (phase {phase()}, message {self.state.get('inference-message')!r})")
        b.go(f"#/jobs/{job_id}")
        b.wait(lambda: b.phase_in_detail() == "running", 30, "running in the detail page")
        b.screenshot("job-detail-managed-inference")

    def inference_call(self):
        check("key" in self.state and "inference" in self.state, "needs the API key and the inference job")
        _, name = self.state["inference"]
        body = {"model": name, "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16}
        deadline = time.monotonic() + 90
        while True:
            status, reply = self.api.call("POST", "/v1/chat/completions", body, token=self.state["key"], prefix="/inference")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        check(status == 200, f"/inference/v1/chat/completions answered {status}: {reply}")
        content = reply["choices"][0]["message"]["content"]
        check(isinstance(content, str) and content, f"an answer: {reply}")
        status, refused = self.api.call("POST", "/v1/chat/completions", body, token="cak_wrong_key", prefix="/inference")
        check(status == 401, f"a wrong key answered {status}")

    def playground(self):
        b = self.browser
        check("key" in self.state and "inference" in self.state, "needs the API key and the inference job")
        _, name = self.state["inference"]
        b.click("a[data-nav=playground]")
        b.find("#chat-form")
        Select(b.find("#chat-endpoint")).select_by_value(name)
        b.type("#chat-key", self.state["key"])
        b.type("#chat-max-tokens", "400")
        # Up to three messages: the engine emits tokens back to back, so a short answer can land in
        # one network read; the check passes when one answer is seen growing at least twice.
        for attempt in range(3):
            b.type("#chat-prompt", "Tell me a short story about GPUs")
            # Record every change of the answer with its time, in the page.
            b.driver.execute_script("""
              window.__pieces = [];
              window.__observer?.disconnect();
              window.__observer = new MutationObserver(() => {
                const a = document.querySelector('#chat .msg.assistant:last-child');
                if (a) window.__pieces.push([performance.now(), a.textContent.length, a.dataset.done]);
              });
              window.__observer.observe(document.getElementById('chat'),
                {subtree: true, childList: true, characterData: true, attributes: true});
            """)
            b.click("#chat-send")
            b.wait(lambda: b.driver.execute_script(
                "const a = document.querySelector('#chat .msg.assistant:last-child'); return a && a.dataset.done === 'true'"),
                120, "the streamed answer to finish")
            answer = b.find("#chat .msg.assistant:last-child")
            check("alert" not in (answer.get_attribute("class") or ""), f"the playground failed: {answer.text!r}")
            pieces = int(answer.get_attribute("data-pieces"))
            marks = b.driver.execute_script("return window.__pieces")
            growing = sorted({(round(t, 1), n) for t, n, done in marks if done == "false" and n > 0})
            lengths = sorted({n for _, n in growing})
            check(pieces >= 2, f"the answer came in {pieces} piece(s)")
            if len(lengths) >= 2:
                break
        check(len(lengths) >= 2, f"the answer was seen growing in the page only {len(lengths)} time(s) in 3 tries")
        span = growing[-1][0] - growing[0][0] if growing else 0
        self.figures.append(f"playground: {pieces} pieces, seen growing {len(lengths)} times over {span:.0f} ms "
                            f"({b.text('#chat-status')})")
        b.screenshot("playground")

    # usage, admin, session -----------------------------------------------------------------------

    def usage(self):
        b = self.browser
        b.click("a[data-nav=usage]")
        b.find("#usage-tokens table, #usage-tokens .empty, #usage-tokens .alert", timeout=20)
        b.find("#usage-gpu table, #usage-gpu .empty, #usage-gpu .alert", timeout=20)
        check(not b.driver.find_elements(By.CSS_SELECTOR, "#usage-tokens .alert, #usage-gpu .alert"),
              "usage shows an error: " + " ".join(e.text for e in b.driver.find_elements(By.CSS_SELECTOR, ".alert")))
        if "inference" in self.state:
            # proxy-inference records usage in batches: wait for the bucket, reloading the page.
            def tokens_table():
                b.go("#/usage")
                b.find("#usage-tokens table, #usage-tokens .empty", timeout=20)
                return b.driver.find_elements(By.CSS_SELECTOR, "#usage-tokens svg rect") and b.driver.find_elements(By.CSS_SELECTOR, "#tokens-table")

            b.wait(tokens_table, 60, "token usage in the usage page")
            check("ui-test-" + RUN in b.text("#tokens-table"), "the token table names the key")
        b.find("#usage-gpu table, #usage-gpu .empty")
        b.screenshot("usage")

    def admin(self):
        b = self.browser
        b.click("a[data-nav=admin]")
        b.find("#racks-table", timeout=20)
        check("local" in b.text("#racks-table"), "the local rack is listed")
        b.find("#users-table")
        check("admin" in b.text("#users-table"), "the admin user is listed")
        b.type("#master-model", "cosmicac/ui-master-" + RUN)
        b.type("#master-gpus", "1")
        b.type("#master-length", "4096")
        b.click("#admin-masters + form button[type=submit]")
        b.wait(lambda: b.driver.find_elements(By.CSS_SELECTOR, "#masters-table") and
               "ui-master-" + RUN in b.text("#masters-table"), 20, "the saved model master")
        b.screenshot("admin")

    def non_admin(self):
        b = self.browser
        token = b.session_token()
        name, password = "ui-user-" + RUN, "ui-user-password-" + RUN
        status, body = self.api.call("POST", "/users", {"name": name, "password": password, "role": "user"}, token=token)
        check(status == 201, f"user create answered {status}: {body}")
        self.state["user"] = (name, password)
        user_token = self.api.login(name, password)
        status, _ = self.api.call("GET", "/racks", token=user_token)
        check(status == 403, f"a user reading /racks answered {status}")

    def expired_session(self):
        b = self.browser
        b.go("#/keys")
        b.find("#keys-table, #keys-list .empty")
        # End the session from "another tab": log out with the same token over the API.
        status, _ = self.api.call("POST", "/auth/logout", token=b.session_token())
        check(status == 204, f"logout answered {status}")
        b.click("a[data-nav=jobs]")
        b.wait(lambda: b.driver.current_url.endswith("#/login"), 15, "the sign-in page after the session ended")
        notice = b.find("#login-notice")
        check("session has ended" in notice.text, f"the expiry notice: {notice.text!r}")
        b.screenshot("session-expired")
        # Signing in again returns to the page the user was on.
        self.ui_login("admin", self.admin_password)
        b.wait(lambda: b.driver.current_url.endswith("#/jobs"), 15, "the jobs page after signing in again")

    def sign_out(self):
        b = self.browser
        b.click("#signout")
        b.wait(lambda: b.driver.current_url.endswith("#/login"), 10, "the sign-in page after signing out")
        status, _ = self.api.call("GET", "/auth/me", headers={"Cookie": "cosmicac_session=x"})
        check(status == 401, "a bogus cookie is accepted")
        b.go("#/jobs")
        b.wait(lambda: b.driver.current_url.endswith("#/login"), 10, "signed-out visitors to land on sign-in")

    def clean_up(self):
        """Deletes this run's jobs (the local rack has few GPUs) and waits until they are gone."""
        token = self.api.login("admin", self.admin_password)
        ids = [self.state[k] for k in ("container",) if k in self.state]
        ids += [self.state["inference"][0]] if "inference" in self.state else []
        for job_id in ids:
            status, job = self.api.call("GET", f"/jobs/{job_id}", token=token)
            if status == 200 and job["desired"] != "deleted":
                status, body = self.api.call("DELETE", f"/jobs/{job_id}", token=token)
                check(status == 202, f"delete {job_id} answered {status}: {body}")
        deadline = time.monotonic() + 120
        for job_id in ids:
            while True:
                status, job = self.api.call("GET", f"/jobs/{job_id}", token=token)
                if status == 200 and job["phase"] == "deleted":
                    break
                check(time.monotonic() < deadline, f"{job_id} not deleted in time (phase {job.get('phase')})")
                time.sleep(0.5)

    # performance ---------------------------------------------------------------------------------

    def seed_jobs(self, count):
        """Creates a user with `count` jobs (in a location no rack serves: they wait in scheduling)."""
        admin = self.api.login("admin", self.admin_password)
        name, password = "ui-perf-" + RUN, "ui-perf-password-" + RUN
        status, body = self.api.call("POST", "/users", {"name": name, "password": password}, token=admin)
        if status != 201:
            self.state["seed-error"] = f"perf user create answered {status}: {body}"
            return
        token = self.api.login(name, password)
        started = time.monotonic()
        for index in range(count):
            job = {"name": f"perf-{index:04d}", "tags": ["perf"], "location": "perf-nowhere", "kind": "gpu-container",
                   "gpuModel": "perf-none", "gpuCount": 1, "image": "Ubuntu22.04/CUDA12.8.1", "diskGb": 10}
            status, body = self.api.call("POST", "/jobs", job, token=token, headers={"Idempotency-Key": f"perf-{RUN}-{index}"})
            if status not in (200, 201):
                self.state["seed-error"] = f"create {index} answered {status}: {body}"
                return
            time.sleep(0.1)
        self.state["perf-user"] = (name, password)
        self.state["seed-seconds"] = time.monotonic() - started

    def first_load(self):
        count = self.args.perf_jobs
        seeder = self.state.get("seeder")
        if seeder:
            seeder.join()
        check("seed-error" not in self.state, self.state.get("seed-error", ""))
        driver = new_driver()
        try:
            host = urllib.parse.urlparse(self.base).netloc
            measure = """
              const nav = performance.getEntriesByType('navigation')[0];
              const res = performance.getEntriesByType('resource');
              const all = [nav, ...res];
              return {requests: all.length,
                      bytes: all.reduce((s, e) => s + (e.transferSize || 0), 0),
                      body: all.reduce((s, e) => s + (e.decodedBodySize || 0), 0),
                      api: res.filter(e => e.name.includes('/api/')).length,
                      hosts: [...new Set(all.map(e => new URL(e.name).host))],
                      names: all.map(e => new URL(e.name).pathname + ' ' + e.transferSize)};
            """
            # 1. The sign-in page, cold cache (a fresh profile).
            driver.get(self.base + "/#/login")
            WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#login-name"))
            time.sleep(0.5)
            login = driver.execute_script(measure)
            check(login["hosts"] == [host], f"third-party hosts on first load: {login['hosts']}")
            self.figures.append(
                f"first load (sign-in page, cold cache): {login['requests']} requests, {login['bytes']} bytes transferred "
                f"({login['body']} bytes decoded), hosts {login['hosts']}")
            if count <= 0:
                self.figures.append("jobs-list timing skipped (CHECK_UI_PERF_JOBS=0)")
                return
            name, password = self.state["perf-user"]
            driver.find_element(By.CSS_SELECTOR, "#login-name").send_keys(name)
            driver.find_element(By.CSS_SELECTOR, "#login-password").send_keys(password)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs-table"))
            # 2. The jobs list with `count` jobs on one page, cold cache, signed in.
            driver.execute_script("sessionStorage.setItem('cosmicac.jobs.filters', JSON.stringify({size: arguments[0]}))", str(count))
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            timings = []
            for attempt in range(3):
                driver.get("about:blank")
                if attempt:
                    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
                driver.get(self.base + "/#/jobs")
                WebDriverWait(driver, 120, poll_frequency=0.05).until(
                    lambda d: d.execute_script("return performance.getEntriesByName('jobs-rendered').length > 0"))
                rows = driver.execute_script("return document.querySelectorAll('#jobs-table tbody tr').length")
                check(rows == count, f"the jobs list shows {rows} rows, expected {count}")
                mark = driver.execute_script("return performance.getEntriesByName('jobs-rendered')[0].startTime")
                figures = driver.execute_script(measure)
                check(figures["hosts"] == [host], f"third-party hosts: {figures['hosts']}")
                timings.append((mark, figures))
            marks = sorted(t for t, _ in timings)
            _, figures = timings[0]
            self.figures.append(
                f"jobs list with {count} jobs (cold cache, signed in): rendered {marks[0]:.0f} / {marks[1]:.0f} / "
                f"{marks[2]:.0f} ms after navigation start (min / median / max of 3); {figures['requests']} requests "
                f"({figures['api']} to /api), {figures['bytes']} bytes transferred ({figures['body']} decoded), "
                f"hosts {figures['hosts']}")
            self.figures.append(f"seeding {count} jobs over the API took {self.state['seed-seconds']:.0f} s "
                                f"(app-node's per-user rate limit, 600/min by default)")
            self.figures.append("peer: the issue names none for the console's first load, so none is measured")
        finally:
            driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True, help="caddy's URL, e.g. http://127.0.0.1:5173")
    parser.add_argument("--admin-password-file", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--only", default="", help="run only the checks whose names contain one of these comma-separated words")
    parser.add_argument("--perf-jobs", type=int, default=int(os.environ.get("CHECK_UI_PERF_JOBS", "1000")))
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    suite = Suite(args)
    if args.perf_jobs > 0:
        seeder = threading.Thread(target=suite.seed_jobs, args=(args.perf_jobs,), daemon=True)
        seeder.start()
        suite.state["seeder"] = seeder
    try:
        steps = [
            ("wrong password", suite.wrong_password),
            ("sign in", suite.sign_in),
            ("create a GPU Container job and see it running", suite.create_container),
            ("jobs list follows phases live", suite.live_list),
            ("start, stop, delete with confirmation", suite.start_stop_delete),
            ("create an API key (shown once)", suite.api_key),
            ("revoke an API key", suite.revoke_key),
            ("create a Managed Inference job and see it running", suite.inference_job),
            ("call /inference/v1/chat/completions with the key", suite.inference_call),
            ("playground streams the answer in pieces", suite.playground),
            ("usage charts and tables", suite.usage),
            ("admin: racks, users, model masters", suite.admin),
            ("a user cannot read racks", suite.non_admin),
            ("an ended session is handled", suite.expired_session),
            ("sign out", suite.sign_out),
            ("delete this run's jobs", suite.clean_up),
            ("first load figures", suite.first_load),
        ]
        only = [word.strip() for word in args.only.split(",") if word.strip()]
        for name, function in steps:
            if only and not any(word in name for word in only):
                continue
            suite.run(name, function)
    finally:
        suite.browser.close()
    print("\nfigures:")
    for line in suite.figures:
        print("  " + line)
    print(f"\nscreenshots ({len(suite.browser.taken)}) in {args.screenshots}")
    failed = [name for name, ok, _ in suite.results if not ok]
    print(f"\n{len(suite.results) - len(failed)} of {len(suite.results)} checks passed")
    if failed:
        print("failed: " + "; ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
