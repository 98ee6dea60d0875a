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


async def test_links_opening_together_are_recorded_in_one_group_commit(csms: Csms) -> None:
    ids = [f"CS-{n:03d}" for n in range(120)]
    await add_stations([NewStation(sid, PASSWORD) for sid in ids])
    ops_before = csms.writer.ops
    await asyncio.gather(
        *(csms.provisioning.mark_connected(sid, "ocpp2.0.1") for sid in ids[:100]),
        *(csms.provisioning.mark_connected(sid, "ocpp2.1") for sid in ids[100:]),
    )
    # Written before mark_connected returned, by one op of the durable writer.
    assert csms.writer.ops - ops_before == 1
    views = {view.id: view for view in await list_stations()}
    assert all(views[sid].connected for sid in ids)
    assert {views[sid].protocol for sid in ids[:100]} == {"ocpp2.0.1"}
    assert {views[sid].protocol for sid in ids[100:]} == {"ocpp2.1"}


async def test_connects_and_disconnects_queued_together_are_written_in_their_order(
    csms: Csms,
) -> None:
    await add_stations([NewStation(sid, PASSWORD) for sid in ("A", "B", "C")])
    provisioning = csms.provisioning
    # B: connect, drop, reconnect; C: connect, drop; all before any write started.
    await asyncio.gather(
        provisioning.mark_connected("A", "ocpp2.0.1"),
        provisioning.mark_connected("B", "ocpp2.0.1"),
        provisioning.mark_connected("C", "ocpp2.0.1"),
        provisioning.mark_disconnected("B"),
        provisioning.mark_disconnected("C"),
        provisioning.mark_connected("B", "ocpp2.0.1"),
    )
    views = {view.id: view.connected for view in await list_stations()}
    assert views == {"A": True, "B": True, "C": False}
