"""Console sign-in: signed session values, and the cookie's rules over a real API server
(sign-in, CSRF token on writes, bearer still accepted, pages redirect to sign-in)."""

from __future__ import annotations

import aiohttp

from csms.app import Csms
from csms.web.session import COOKIE, CSRF_HEADER, Signer
from tests.conftest import settings_for

TOKEN = "session-test-token-01"


def test_a_session_value_is_valid_until_it_expires_and_only_for_its_token() -> None:
    signer = Signer.for_token(TOKEN)
    value = signer.issue(1000.0, lifetime_s=60)
    assert signer.valid(value, 1059.0)
    assert not signer.valid(value, 1060.0)
    assert not Signer.for_token("another-token-0001").valid(value, 1001.0)
    expires, nonce, mac = value.split(".")
    assert not signer.valid(f"{int(expires) + 3600}.{nonce}.{mac}", 1001.0)  # extended: forged
    assert not signer.valid("garbage", 1001.0)
    assert signer.csrf(value) != signer.csrf(signer.issue(1000.0))


async def test_the_cookie_signs_in_and_writes_need_the_csrf_token(db_url: str) -> None:
    app = Csms(settings_for(db_url, api_token=TOKEN))
    await app.start()
    try:
        base = f"http://127.0.0.1:{app.api_port}"
        # unsafe: keep cookies of an IP-address host (loopback here), as a browser does.
        async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            page = await http.get("/stations", allow_redirects=False)
            assert page.status == 303 and page.headers["Location"] == "/login?next=/stations"
            assert (await http.get("/login")).status == 200
            assert (await http.get("/static/console.js")).status == 200
            assert (await http.get("/api/v1/overview")).status == 401
            assert (await http.post("/session", json={"token": "wrong"})).status == 401
            signed = await http.post("/session", json={"token": TOKEN})
            assert signed.status == 200
            csrf = (await signed.json())["csrf"]
            cookie = signed.cookies[COOKIE]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert (await http.get("/stations", allow_redirects=False)).status == 200
            overview = await (await http.get("/api/v1/overview")).json()
            assert overview["stations"]["total"] == 0
            new = {"id": "CS-9", "password": "a-long-enough-station-password"}
            refused = await http.post("/api/v1/stations", json=new)
            assert refused.status == 403 and "CSRF" in (await refused.json())["error"]
            created = await http.post("/api/v1/stations", json=new, headers={CSRF_HEADER: csrf})
            assert created.status == 201
            assert (await http.delete("/session", headers={CSRF_HEADER: csrf})).status == 200
            assert (await http.get("/api/v1/overview")).status == 401
        async with aiohttp.ClientSession(base) as bearer:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            assert (await bearer.get("/api/v1/station-pages", headers=auth)).status == 200
    finally:
        await app.stop()


async def test_without_a_token_the_console_is_open_on_loopback_only(csms: Csms) -> None:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as http:
        page = await http.get("/")
        assert page.status == 200 and 'data-page="overview"' in await page.text()
        foreign = await http.get("/", headers={"Host": "console.example.com"})
        assert foreign.status == 403


async def test_with_a_token_the_console_works_under_any_host_name(db_url: str) -> None:
    app = Csms(settings_for(db_url, api_token=TOKEN))
    await app.start()
    try:
        base = f"http://127.0.0.1:{app.api_port}"
        host = {"Host": "csms.example.com"}
        async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert (await http.get("/login", headers=host)).status == 200
            signed = await http.post("/session", json={"token": TOKEN}, headers=host)
            assert signed.status == 200
            overview = await http.get("/api/v1/overview", headers=host)
            assert overview.status == 200
        async with aiohttp.ClientSession(base) as stranger:
            assert (await stranger.get("/api/v1/overview", headers=host)).status == 401
    finally:
        await app.stop()


async def test_sign_in_sends_back_only_into_the_console(csms: Csms) -> None:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as http:
        for target, kept in (
            ("/stations", True),
            ("//evil.example", False),
            ("/\\evil.example", False),
            ("https://evil.example", False),
            ("/a\tb", False),
        ):
            page = await (await http.get("/login", params={"next": target})).text()
            assert f'data-next="{target if kept else "/"}"' in page, target
