"""Many links opening and closing at once: the stored connected state stays true."""

from __future__ import annotations

import asyncio

from csms.app import Csms
from csms.blocks.stations import NewStation, add_stations, list_stations
from tests.ocpp_wire import open_peer

PASSWORD = "correct-horse-battery"


async def _settled(expected: dict[str, bool]) -> dict[str, bool]:
    """The stored connected flags once they match `expected` (or after ~10 s)."""
    seen: dict[str, bool] = {}
    for _ in range(200):
        seen = {view.id: view.connected for view in await list_stations()}
        if seen == expected:
            break
        await asyncio.sleep(0.05)
    return seen


async def test_links_closing_together_are_all_recorded_and_a_reconnect_is_never_overtaken(
    csms: Csms,
) -> None:
    ids = [f"CS-{n:02d}" for n in range(40)]
    await add_stations([NewStation(sid, PASSWORD) for sid in ids])
    peers = await asyncio.gather(*(open_peer(csms, sid, PASSWORD) for sid in ids))
    assert await _settled(dict.fromkeys(ids, True)) == dict.fromkeys(ids, True)
    # An outage: every link closes at once; CS-00 comes back at once, CS-01 comes back
    # and drops again.
    await asyncio.gather(*(peer.close() for peer in peers))
    back = await open_peer(csms, "CS-00", PASSWORD)
    flaky = await open_peer(csms, "CS-01", PASSWORD)
    await flaky.close()
    expected = dict.fromkeys(ids, False) | {"CS-00": True}
    assert await _settled(expected) == expected
    assert (await back.call("Heartbeat", {}))[0] == 3
    await back.close()
