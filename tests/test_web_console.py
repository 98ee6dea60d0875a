"""The operator console in a real browser: headless Chromium (Debian's) driven by Selenium
against one CSMS with emulated stations, a grid topology, a grid event and a swap station.

The CSMS and its stations run on an event loop of their own thread, because Selenium's
calls block: the browser must be answered while the test waits on it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from charge_point_emulator.clock import SimClock
from charge_point_emulator.ev import EvSpec
from charge_point_emulator.faults import Fault, FaultKind
from charge_point_emulator.scenario import EvseSpec
from charge_point_emulator.station import EmulatedStation
from csms.app import Csms
from csms.blocks.authorization import add_token
from csms.blocks.stations import add_station
from csms.db.models import Transaction
from csms.grid.live_state import save_topology
from csms.grid.topology import loads_topology
from tests.conftest import settings_for
from tests.test_live_topology import topology_toml
from tests.test_swaplive_api import report as roadside_report
from tests.test_swaplive_api import station_doc, vehicle_doc

T = TypeVar("T")
TOKEN = "console-test-token-0001"
PASSWORD = "console-station-password"
#: Set to a directory (`make screenshots` uses docs/) to keep a screenshot of each page.
SHOTS = os.environ.get("CSMS_CONSOLE_SCREENSHOTS")
WAIT_S = 30.0


@dataclass
class World:
    """A CSMS with emulated stations on a loop in its own thread."""

    loop: asyncio.AbstractEventLoop
    csms: Csms
    stations: dict[str, EmulatedStation]
    transaction_id: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.csms.api_port}"

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT_S)


async def _until(check: Any, within_s: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def _start(db_url: str) -> tuple[Csms, dict[str, EmulatedStation], str]:
    csms = Csms(settings_for(db_url, api_token=TOKEN))
    await csms.start()
    # EMU-2 refuses every charging profile, so its car draws its full 11 kW from a site
    # of 10 kW: the console must show that site over its limit.
    site_c = "[[node]]\nid = 'site-c'\nkind = 'site'\nparent = 'feeder-1'\nimport_limit_w = 10000\n"
    text = topology_toml(
        {"EMU-1": "site-a", "EMU-2": "site-c"}, transformer_w=12_000, export_w=11_000, extra=site_c
    )
    await add_token("WEB-DRIVER")
    for station_id in ("EMU-1", "EMU-2", "EMU-OFF"):
        await add_station(station_id, PASSWORD)
    await save_topology(loads_topology(text)[1], datetime.now(UTC))  # places the stations
    stations = {}
    for station_id in ("EMU-1", "EMU-2"):
        station = EmulatedStation(
            station_id,
            PASSWORD,
            f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
            evses=(EvseSpec(), EvseSpec()),
            clock=SimClock(60.0),
            sample_interval_s=60,
            tick_real_s=0.05,
            faults=[Fault(FaultKind.REJECT_PROFILE, count=10**6)] if station_id == "EMU-2" else [],
        )
        await station.start()
        await station.wait_until(lambda s=station: s.online)
        stations[station_id] = station
    stations["EMU-1"].plug_in(1, EvSpec(), 0.3, 0.9, 36_000, id_token="WEB-DRIVER")
    stations["EMU-1"].present_token(1, "WEB-DRIVER")
    stations["EMU-2"].plug_in(1, EvSpec(), 0.3, 0.9, 36_000, id_token="WEB-DRIVER")
    stations["EMU-2"].present_token(1, "WEB-DRIVER")

    async def charging() -> bool:
        return await Transaction.filter(state="active").count() == 2

    await _until(charging)
    row = await Transaction.get(station_id="EMU-1")
    now = datetime.now(UTC)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}", headers=auth) as http:
        event = {
            "node": "tx-1",
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": (now + timedelta(hours=2)).isoformat(),
            "kind": "limit",
            "max_net_w": 9_000,
        }
        assert (await http.post("/api/v1/grid/events", json=event)).status == 201
        report = {"requestId": 1, "reportBase": "FullInventory"}
        url = "/api/v1/stations/EMU-2/commands/GetBaseReport"
        assert (await http.post(url, json=report)).status == 200
        assert (await http.post("/api/v1/swap/stations", json=station_doc())).status == 201
        for vehicle, serial in (("car-1", "V-1"), ("car-2", "V-2")):
            reply = await http.post(
                "/api/v1/swap/stations/PSS-1/vehicles", json=vehicle_doc(vehicle, serial)
            )
            assert reply.status == 201
        perception = {
            "station": "PSS-1",
            "reports": [roadside_report("car-1", "approach", 1, path_clear=True)],
        }
        assert (await http.post("/api/v1/swap/perception", json=perception)).status == 200
    return csms, stations, row.transaction_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="console-csms", daemon=True)
    thread.start()
    db_url = f"sqlite://{tmp_path_factory.mktemp('console') / 'csms.db'}"
    future = asyncio.run_coroutine_threadsafe(_start(db_url), loop)
    # The first plan may compile the kernel (cold numba cache): allow for it once.
    csms, stations, transaction_id = future.result(240)
    world = World(loop, csms, stations, transaction_id)
    try:
        yield world
    finally:

        async def stop() -> None:
            for station in stations.values():
                await station.stop()
            await csms.stop()

        world.run(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _chromium() -> WebDriver:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.fail("Chromium and chromedriver are needed: `make browser` installs them")
    options = Options()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


def _sign_in(browser: WebDriver, token: str) -> None:
    field = browser.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token, Keys.ENTER)


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[WebDriver]:
    driver = _chromium()
    try:
        driver.get(world.url + "/")
        _sign_in(driver, TOKEN)
        WebDriverWait(driver, WAIT_S).until(lambda d: d.current_url == world.url + "/")
        yield driver
    finally:
        driver.quit()


def view_text(browser: WebDriver, *wanted: str) -> str:
    """The page's live part once it shows every `wanted` string (it fills from the feed)."""
    try:
        WebDriverWait(browser, WAIT_S).until(
            lambda d: all(w in d.find_element(By.ID, "view").text for w in wanted)
        )
    except TimeoutException:
        shown = browser.find_element(By.TAG_NAME, "main").text
        raise AssertionError(f"{wanted} not all on the page; it shows:\n{shown}") from None
    return str(browser.find_element(By.ID, "view").text)


def shot(browser: WebDriver, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SHOTS) / f"console-{name}.png"))


def test_sign_in_is_required_when_a_token_is_set(world: World, browser: WebDriver) -> None:
    browser.delete_all_cookies()
    browser.get(world.url + "/stations")
    assert browser.current_url == world.url + "/login?next=/stations"
    _sign_in(browser, "not-the-token")
    error = browser.find_element(By.ID, "login-error")
    WebDriverWait(browser, WAIT_S).until(lambda d: error.text)
    assert "not right" in error.text
    _sign_in(browser, TOKEN)
    WebDriverWait(browser, WAIT_S).until(lambda d: d.current_url == world.url + "/stations")
    cookie = browser.get_cookie("csms_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_overview_shows_the_network_live(world: World, browser: WebDriver) -> None:
    browser.get(world.url + "/")
    text = view_text(browser, "PSS-1", "tx-1")
    facts = dict(
        (fact.find_element(By.TAG_NAME, "dt").text, fact.find_element(By.TAG_NAME, "dd").text)
        for fact in browser.find_elements(By.CSS_SELECTOR, ".fact")
    )
    assert facts["Stations"] == "3"
    assert facts["Online"] == "2" and facts["Offline"] == "1"
    assert facts["Active sessions"] == "2"
    assert "limit" in text and "9.0 kW" in text  # the grid event in force
    assert "Live" in browser.find_element(By.CSS_SELECTOR, ".status").text
    shot(browser, "overview")


def test_grid_page_shows_the_tree_the_load_and_the_plan(world: World, browser: WebDriver) -> None:
    browser.get(world.url + "/grid")
    view_text(browser, "feeder-1", "site-a", "site-b", "site-c")
    # Not only red: the text says it, and the bar's class marks it.
    view_text(browser, "11.0 kW import of 10.0 kW (110 %, ✖ over the limit)")
    assert browser.find_elements(By.CSS_SELECTOR, ".load.over .bar[role=meter]")
    view_text(browser, "of 9.0 kW (grid event)")  # tx-1: the event's cap, not its 12 kW
    tx = browser.find_element(By.XPATH, "//button[.//strong[text()='tx-1']]")
    tx.send_keys(Keys.ENTER)  # keyboard, not only the mouse, picks a node
    text = view_text(browser, "Node tx-1", "Slots met")
    assert "Valley share" in text
    bars = browser.find_elements(By.CSS_SELECTOR, ".node-detail svg rect.charge")
    assert bars, "the plan chart has charge bars"
    assert browser.find_elements(By.CSS_SELECTOR, ".node-detail svg .limit.import-limit")
    shot(browser, "grid")


def test_station_list_searches_on_the_server(world: World, browser: WebDriver) -> None:
    browser.get(world.url + "/stations")
    view_text(browser, "EMU-1", "EMU-2", "EMU-OFF", "1–3 of 3", "site-a")
    shot(browser, "stations")
    browser.find_element(By.ID, "q").send_keys("off")
    text = view_text(browser, "1–1 of 1")
    assert "EMU-OFF" in text and "EMU-1" not in text


def test_a_command_from_the_station_page_reaches_the_emulated_station(
    world: World, browser: WebDriver
) -> None:
    browser.get(world.url + "/stations/EMU-2")
    view_text(browser, "online", "Available", "Device model (")
    WebDriverWait(browser, WAIT_S).until(  # the base report asked for at the start
        lambda d: "(0 variables)" not in d.find_element(By.TAG_NAME, "summary").text
    )
    form = browser.find_element(By.CSS_SELECTOR, "form[data-action=ChangeAvailability]")
    evse = form.find_element(By.NAME, "avail-evse")
    evse.clear()
    evse.send_keys("2")
    form.find_element(By.TAG_NAME, "button").click()
    answer = browser.find_element(By.CSS_SELECTOR, ".answer")
    WebDriverWait(browser, WAIT_S).until(lambda d: "Accepted" in answer.text)
    station = world.stations["EMU-2"]
    assert station.evses[2].operative is False and station.evses[1].operative is True
    # The stored outcome and the new connector status come back through the live feed.
    view_text(browser, "ChangeAvailability", "answered", "Unavailable")
    shot(browser, "station")


def test_session_page_charts_power_and_soc(world: World, browser: WebDriver) -> None:
    browser.get(world.url + "/sessions")
    view_text(browser, world.transaction_id, "EMU-1")
    browser.find_element(By.LINK_TEXT, world.transaction_id).click()
    text = view_text(browser, "WEB-DRIVER", "Charging profiles")
    assert "No meter values yet" not in text
    WebDriverWait(browser, WAIT_S).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg rect.charge")) >= 2
    )
    assert browser.find_elements(By.CSS_SELECTOR, "svg polyline.soc")
    # The planner's TxProfile for this session, with the station's answer.
    view_text(browser, "TxProfile")
    WebDriverWait(browser, WAIT_S).until(  # ...drawn over the power it limits
        lambda d: d.find_elements(By.CSS_SELECTOR, "svg polyline.requested")
    )
    shot(browser, "session")


def test_swap_page_shows_bays_queue_and_rack(world: World, browser: WebDriver) -> None:
    browser.get(world.url + "/swap")
    text = view_text(browser, "Swap station PSS-1", "R1", "R2", "car-1")
    assert "car-2" in text  # one bay: the second car waits in the queue
    assert "normal" in text and "97 %" in text  # its class; R1's state of health
    assert "approach" in text and " s old)" in text  # the gate on the roadside report
    shot(browser, "swap")


def test_pages_fit_a_phone_and_start_with_a_skip_link(world: World, browser: WebDriver) -> None:
    browser.set_window_size(390, 844)
    try:
        for path, wanted in (("/", "Swap queues"), ("/stations", "EMU-1"), ("/grid", "tx-1")):
            browser.get(world.url + path)
            view_text(browser, wanted)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"{path} scrolls sideways by {overflow} px"
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        assert browser.switch_to.active_element.text == "Skip to content"
        if SHOTS:
            browser.get(world.url + "/")
            view_text(browser, "Swap queues")
            shot(browser, "phone")
    finally:
        browser.set_window_size(1280, 900)


def test_live_updates_keep_the_focus_and_opened_details(world: World, browser: WebDriver) -> None:
    browser.get(world.url + "/stations/EMU-1")
    view_text(browser, world.transaction_id)
    browser.find_element(By.CSS_SELECTOR, "details[data-key=variables] summary").click()
    link = browser.find_element(By.LINK_TEXT, world.transaction_id)
    browser.execute_script("arguments[0].focus()", link)
    status = browser.find_element(By.CSS_SELECTOR, ".status")
    before = status.text
    # The session's energy grows every second, so the feed sends a new snapshot soon.
    WebDriverWait(browser, WAIT_S).until(lambda d: status.text != before)
    assert browser.find_element(By.CSS_SELECTOR, "details[data-key=variables]").get_attribute(
        "open"
    )
    assert browser.switch_to.active_element.text == world.transaction_id
