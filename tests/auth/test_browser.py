"""The sign-in and consent pages in a real headless Chromium, against the real auth process,
ending at a stand-in for the GPT's OAuth callback on a loopback port."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from cga_auth.oauth.scopes import SCOPE_DESCRIPTIONS
from tests.support.auth import PASSWORD, RegisteredApp, register_app, register_user

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# The Debian packages, never a driver or browser downloaded at test time.
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # Chromium's own calls home are refused by the sandboxed network; they must not start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
WAIT_SECONDS = 15
DESKTOP = (1280, 900)
PHONE = (390, 844)
# ChatGPT sends an opaque state; it must come back byte for byte.
STATE = "gpt state: a b&c=d?e/f#g%20+h ü"
CALLBACK_PATH = "/aip/g-browser-test/oauth/callback"
DRIVER_LOG = "chromedriver.log"


@dataclass(frozen=True)
class CallbackRequest:
    path: str
    query: dict[str, list[str]]


class CallbackServer:
    """The GPT's OAuth callback: records every query it receives and answers 200 "ok"."""

    def __init__(self) -> None:
        self.requests: queue.Queue[CallbackRequest] = queue.Queue()
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                received.put(
                    CallbackRequest(parts.path, parse_qs(parts.query, keep_blank_values=True))
                )
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test reports what it received."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{CALLBACK_PATH}"

    def __enter__(self) -> CallbackServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT_SECONDS)

    def next_query(self) -> dict[str, str]:
        """The next request's query, each parameter sent exactly once; ``queue.Empty`` when
        none arrives in time."""
        request = self.requests.get(timeout=WAIT_SECONDS)
        assert request.path == CALLBACK_PATH
        assert all(len(values) == 1 for values in request.query.values()), request.query
        return {name: values[0] for name, values in request.query.items()}


@pytest.fixture
def callback() -> Iterator[CallbackServer]:
    with CallbackServer() as server:
        yield server


@pytest.fixture
def app_name() -> str:
    return f"Trip Planner {uuid.uuid4().hex[:6]}"


@pytest.fixture
def app(admin: httpx.Client, callback: CallbackServer, app_name: str) -> RegisteredApp:
    return register_app(admin, name=app_name, redirect_uris=[callback.url])


@pytest.fixture
def email(admin: httpx.Client) -> str:
    return register_user(admin)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile. Fails, never skips, when it cannot start."""
    options = Options()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / DRIVER_LOG))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(WAIT_SECONDS)
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT_SECONDS)


def authorize_url(auth_url: str, app: RegisteredApp) -> str:
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uris[0],
        "scope": " ".join(app.scopes),
        "state": STATE,
    }
    return f"{auth_url}/oauth/authorize?{urlencode(query)}"


def path_of(driver: WebDriver) -> str:
    return urlsplit(driver.current_url).path


def field_labelled(driver: WebDriver, label: str) -> WebElement:
    """The input a person finds by its visible label."""
    label_element = driver.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
    field_id = label_element.get_attribute("for")
    assert field_id, f"the {label!r} label names no field"
    return driver.find_element(By.ID, field_id)


def button(driver: WebDriver, text: str) -> WebElement:
    return driver.find_element(By.XPATH, f"//button[normalize-space()='{text}']")


def open_login_page(driver: WebDriver, auth_url: str, app: RegisteredApp) -> None:
    driver.get(authorize_url(auth_url, app))
    wait(driver).until(expected_conditions.title_contains("Sign in"))
    assert path_of(driver) == "/oauth/login"


def sign_in(driver: WebDriver, email: str, password: str) -> None:
    email_field = field_labelled(driver, "Email")
    password_field = field_labelled(driver, "Password")
    assert email_field.get_attribute("id") == "email"
    assert password_field.get_attribute("id") == "password"
    email_field.clear()
    email_field.send_keys(email)
    password_field.send_keys(password)
    button(driver, "Sign in").click()


def reach_consent_page(driver: WebDriver, auth_url: str, app: RegisteredApp, email: str) -> None:
    open_login_page(driver, auth_url, app)
    sign_in(driver, email, PASSWORD)
    wait(driver).until(expected_conditions.title_contains("Allow access"))
    assert path_of(driver) == "/oauth/authorize"


def query_at_callback(callback: CallbackServer, driver: WebDriver, log_dir: Path) -> dict[str, str]:
    """What the callback received; when nothing arrives, where the browser stopped and why."""
    try:
        return callback.next_query()
    except queue.Empty:
        log = (log_dir / DRIVER_LOG).read_text(errors="replace").splitlines()
        console = "\n".join(line for line in log if ":CONSOLE" in line)
        raise AssertionError(
            f"the callback received no request; the browser is at {driver.current_url}\n"
            f"browser console:\n{console or '(empty)'}"
        ) from None


def assert_styled_and_fits(driver: WebDriver) -> None:
    """The stylesheet applied, and nothing sticks out sideways at the current width."""
    button_color = driver.execute_script(
        "return getComputedStyle(document.querySelector('button[type=submit]')).backgroundColor"
    )
    assert button_color == "rgb(11, 107, 203)", "style.css did not apply"
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow == 0, f"the page is {overflow}px wider than the window"


def test_signing_in_and_allowing_sends_a_code_and_the_state_to_the_callback(
    browser: WebDriver,
    auth_url: str,
    app: RegisteredApp,
    app_name: str,
    email: str,
    callback: CallbackServer,
    tmp_path: Path,
) -> None:
    browser.set_window_size(*PHONE)
    open_login_page(browser, auth_url, app)
    assert_styled_and_fits(browser)
    browser.save_screenshot(str(tmp_path / "login-phone.png"))

    sign_in(browser, email, PASSWORD)
    wait(browser).until(expected_conditions.title_contains("Allow access"))
    assert_styled_and_fits(browser)
    browser.save_screenshot(str(tmp_path / "consent-phone.png"))
    browser.set_window_size(*DESKTOP)
    browser.save_screenshot(str(tmp_path / "consent-desktop.png"))

    assert app.scopes
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert heading == f"Allow {app_name} to use your memories?"
    shown = [item.text for item in browser.find_elements(By.CSS_SELECTOR, ".scopes li")]
    assert shown == [f"{SCOPE_DESCRIPTIONS[scope]} {scope}" for scope in app.scopes]
    button(browser, "Allow").click()

    query = query_at_callback(callback, browser, tmp_path)
    assert query.keys() == {"code", "state"}
    assert query["code"].startswith("cga_ac_")
    assert query["state"] == STATE
    wait(browser).until(lambda driver: driver.current_url.startswith(callback.url))
    assert browser.find_element(By.TAG_NAME, "body").text == "ok"


def test_denying_sends_access_denied_and_the_state_to_the_callback(
    browser: WebDriver,
    auth_url: str,
    app: RegisteredApp,
    email: str,
    callback: CallbackServer,
    tmp_path: Path,
) -> None:
    reach_consent_page(browser, auth_url, app, email)

    button(browser, "Deny").click()

    query = query_at_callback(callback, browser, tmp_path)
    assert query["error"] == "access_denied"
    assert query["state"] == STATE
    assert "code" not in query


def test_a_wrong_password_shows_the_error_and_stays_on_the_sign_in_page(
    browser: WebDriver,
    auth_url: str,
    app: RegisteredApp,
    email: str,
    callback: CallbackServer,
) -> None:
    open_login_page(browser, auth_url, app)

    sign_in(browser, email, "not the password at all")

    alert = wait(browser).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
    )
    assert alert.text == "The email or password is not correct."
    assert path_of(browser) == "/oauth/login"
    email_field = field_labelled(browser, "Email")
    assert email_field.get_attribute("value") == email
    assert email_field.get_attribute("aria-invalid") == "true"
    assert field_labelled(browser, "Password").get_attribute("value") == ""
    assert callback.requests.empty()
