"""Console pages with 10,000 stations: one page of the station list (server-side paging and
search) and the overview, against a reference measured in the same run: the full station
list of `GET /api/v1/stations`, which a console without paging would have to load.

An in-process CSMS on SQLite; stations (two connectors each) are inserted directly, since
only reading is measured. Each figure is the median of several requests over loopback.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from benchmarks.report import write_section  # noqa: E402
from csms.app import Csms  # noqa: E402
from csms.config import Settings  # noqa: E402
from csms.db.models import Connector, Station  # noqa: E402

STATIONS = 10_000
ROUNDS = 15
#: A page of the console must cost at most this share of loading every station.
TARGET_RATIO = 0.25


async def _median_ms(http: aiohttp.ClientSession, path: str) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        async with http.get(path) as reply:
            assert reply.status == 200, await reply.text()
            await reply.read()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def measure(db_url: str) -> dict[str, float]:
    csms = Csms(Settings(db_url=db_url, ocpp_host="127.0.0.1", ocpp_port=0, api_port=0))
    await csms.start(api=True)
    try:
        now = datetime.now(UTC)
        await Station.bulk_create(
            [Station(id=f"B{n:05d}", password_hash="x", node="site") for n in range(STATIONS)],
            batch_size=1000,
        )
        await Connector.bulk_create(
            [
                Connector(
                    station_id=f"B{n:05d}",
                    evse_id=e,
                    connector_id=1,
                    status="Available",
                    status_at=now,
                )
                for n in range(STATIONS)
                for e in (1, 2)
            ],
            batch_size=1000,
        )
        async with aiohttp.ClientSession(f"http://127.0.0.1:{csms.api_port}") as http:
            return {
                "full list (reference)": await _median_ms(http, "/api/v1/stations"),
                "first page (50)": await _median_ms(http, "/api/v1/station-pages?limit=50"),
                "last page (50)": await _median_ms(
                    http, f"/api/v1/station-pages?limit=50&offset={STATIONS - 50}"
                ),
                "search 'B0999' (10 rows)": await _median_ms(
                    http, "/api/v1/station-pages?q=B0999&limit=50"
                ),
                "overview": await _median_ms(http, "/api/v1/overview"),
            }
    finally:
        await csms.stop()


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(measure(f"sqlite://{folder}/console.db"))
    reference = figures["full list (reference)"]
    rows = "\n".join(
        f"| {name} | {ms:,.1f} | {ms / reference:.3f} |" for name, ms in figures.items()
    )
    worst = max(ms for name, ms in figures.items() if name != "full list (reference)")
    ratio = worst / reference
    markdown = (
        f"## Console pages with {STATIONS:,} stations (`benchmarks/console_pages.py`)\n\n"
        "Median of "
        f"{ROUNDS} requests over loopback to an in-process CSMS on SQLite; reference: the "
        "full station list of `GET /api/v1/stations`, measured in the same run.\n\n"
        "| request | median ms | vs reference |\n|---|---|---|\n"
        f"{rows}\n\n"
        f"**Slowest console request / reference: {ratio:.3f}** (target <= {TARGET_RATIO})\n"
    )
    print(markdown)
    write_section("console_pages", markdown)
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
