"""The web view in a real browser: headless Chromium (Debian's, offline), Selenium, ``python -m local_emulator``.

One emulator on free ports with its own redis-server (as ``tests/local_emulator``), opened
through the one-time ``ui=`` link its ``emulator.ready`` line prints. Everything the page
shows is waited for in the DOM, never after a reload; the Hub is checked through
``/_mock/state``. Screenshots of each state are saved under the test's tmp dir
(``docs/webview.png`` is one of them, copied by hand).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.local_emulator.test_emulator import Running, launched
from tests.support import child_env, require

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AGENT = "bramble"
_UI = re.compile(r"ui='?(http://127\.0\.0\.1:\d+/ui/login\?token=[A-Za-z0-9_\-]+)")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    require(CHROMIUM.exists() and CHROMEDRIVER.exists(), "no /usr/bin/chromium and chromedriver (make browser)")
    with launched(tmp_path_factory.mktemp("webview"), "--poll-interval", "600", "--status", "plain") as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a browser or driver
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
    ):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    service = Service(executable_path=str(CHROMEDRIVER), env=child_env(), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _ui_link(running: Running) -> str:
    found = _UI.search(running.out.read_text())
    assert found, "emulator.ready names a ui= link: " + running.out.read_text()[-2000:]
    return found.group(1)


def _wait(driver: Any, what: str, timeout_s: float, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(condition)
    except Exception as exc:
        raise AssertionError(f"the page never showed {what}; it showed: {driver.page_source[-3000:]}") from exc


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def _comments(hub: str, post_id: str, author: str) -> list[dict[str, Any]]:
    state = httpx.get(hub + "/_mock/state", timeout=10).json()
    return [c for c in state["comments"] if c["post_id"] == post_id and c["author"]["name"] == author]


def _mention(hub: str, content: str) -> str:
    answer = httpx.post(hub + "/_mock/posts", json={"author": "dana", "content": content}, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["id"])


def _agent_state(driver: Any) -> str:
    cells = _css(driver, f'tr[data-agent="{AGENT}"] .state')
    return str(cells[0].text) if cells else ""


def test_the_live_view_shows_a_mention_answered_pause_and_resume_and_the_transcript(
    emulator: Running, browser: Any, tmp_path: Path
) -> None:
    driver = browser
    shots = tmp_path / "screenshots"
    shots.mkdir()
    link = _ui_link(emulator)

    # Signed out: the page refuses and says how to sign in.
    metrics = link.split("/ui/")[0]
    refused = httpx.get(metrics + "/ui", timeout=10)
    assert refused.status_code == 401 and "sign-in link" in refused.text
    assert httpx.get(metrics + "/ui/api/snapshot", timeout=10).status_code == 401

    driver.get(link)
    _wait(driver, "the live status", 30, lambda d: "live" in d.find_element("id", "status").text)
    _wait(driver, f"the agent {AGENT}", 15, lambda d: _agent_state(d) == "active")
    assert httpx.get(link, timeout=10, follow_redirects=False).status_code == 401, "the link works once"
    driver.save_screenshot(str(shots / "1-signed-in.png"))

    # A mention, then the agent's reply, appear without a reload.
    first = _mention(emulator.hub, f"@{AGENT} what grows best in the shade?")
    thread = f'.thread[data-post-id="{first}"]'
    _wait(driver, "the mention", 30, lambda d: any("grows best in the shade" in t.text for t in _css(d, thread)))
    reply = f'{thread} .comment[data-author="{AGENT}"]'
    _wait(driver, "the agent's reply", 30, lambda d: _css(d, reply))
    hub_reply = _comments(emulator.hub, first, AGENT)
    assert len(hub_reply) == 1 and hub_reply[0]["content"] in _css(driver, reply)[0].text
    last = f'tr[data-agent="{AGENT}"] a.activation-link'
    _wait(driver, "the agent's last activation", 15, lambda d: _css(d, last))
    activation_href = str(_css(driver, last)[0].get_attribute("href"))
    driver.save_screenshot(str(shots / "2-answered.png"))

    # Paused from the page: a new mention stays unanswered, and the page says paused.
    _css(driver, f'tr[data-agent="{AGENT}"] button.pause')[0].click()
    _wait(driver, "the agent paused", 15, lambda d: _agent_state(d) == "paused")
    second = _mention(emulator.hub, f"@{AGENT} are the tomatoes ripe yet?")
    time.sleep(12)  # a reasonable time for a reply that must not come
    assert _comments(emulator.hub, second, AGENT) == [], "a paused agent does not answer"
    assert _agent_state(driver) == "paused"
    driver.save_screenshot(str(shots / "3-paused.png"))

    # Resumed from the page: the waiting mention is answered (its activation retries within 30 s).
    _css(driver, f'tr[data-agent="{AGENT}"] button.resume')[0].click()
    _wait(driver, "the agent active again", 15, lambda d: _agent_state(d) == "active")
    second_reply = f'.thread[data-post-id="{second}"] .comment[data-author="{AGENT}"]'
    _wait(driver, "the reply after resume", 60, lambda d: _css(d, second_reply))
    assert len(_comments(emulator.hub, second, AGENT)) == 1
    driver.save_screenshot(str(shots / "4-resumed.png"))

    # The first activation's transcript: the model's request (the mention) and its reply.
    driver.get(activation_href)
    _wait(driver, "the transcript", 15, lambda d: _css(d, 'li[data-kind="llm_response"]'))
    requests = " ".join(e.text for e in _css(driver, 'li[data-kind="llm_request"] .request-text'))
    replies = " ".join(e.text for e in _css(driver, 'li[data-kind="llm_response"] .reply-text'))
    assert "what grows best in the shade?" in requests
    assert hub_reply[0]["content"] in replies
    assert _css(driver, 'li[data-kind="hub_write"]'), "the Hub write is listed"
    driver.save_screenshot(str(shots / "5-transcript.png"))
    assert len(list(shots.glob("*.png"))) == 5
