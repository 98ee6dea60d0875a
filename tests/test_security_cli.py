"""The security CLI: stations at a profile, generated and refused passwords, the built-in
CA (init, issue, server, revoke), certificates listed, rotation through the running server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from csms.app import Csms
from csms.blocks.stations import add_station, get_station
from csms.db.database import close_database, open_database
from tests.ocpp_wire import open_peer

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


async def cli(db_url: str, ca_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CSMS_DB_URL": db_url, "CSMS_CA_DIR": str(ca_dir), "COLUMNS": "250"}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "cli.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_stations_are_added_at_a_profile_with_generated_or_strong_passwords(
    db_url: str, tmp_path: Path
) -> None:
    ca = tmp_path / "ca"
    certified = await cli(db_url, ca, "stations", "add", "CS-3", "--profile", "3")
    assert certified.returncode == 0, certified.stdout + certified.stderr
    assert "security profile 3" in certified.stdout
    generated = await cli(db_url, ca, "stations", "add", "CS-G", "--generate-password")
    assert generated.returncode == 0, generated.stdout
    shown = generated.stdout.split("password (shown once, only its hash is stored): ")[1]
    assert len(shown.strip()) == 40
    weak = await cli(db_url, ca, "stations", "add", "CS-W", "--password", "password12345678")
    assert weak.returncode == 1 and "too guessable" in weak.stdout
    missing = await cli(db_url, ca, "stations", "add", "CS-2", "--profile", "2")
    assert missing.returncode == 1 and "--password" in missing.stdout
    await open_database(db_url)
    try:
        assert (await get_station("CS-3")).security_profile == 3
        assert (await get_station("CS-G")).security_profile == 1
    finally:
        await close_database()


async def test_the_built_in_ca_issues_lists_and_revokes_station_certificates(
    db_url: str, tmp_path: Path
) -> None:
    ca, out = tmp_path / "ca", tmp_path / "out"
    no_ca = await cli(db_url, ca, "ca", "issue", "CS-3", "--out", str(out))
    assert no_ca.returncode == 1 and "ca init" in no_ca.stdout
    made = await cli(db_url, ca, "ca", "init", "--name", "Test CA")
    assert made.returncode == 0, made.stdout + made.stderr
    assert (ca / "ca.key").stat().st_mode & 0o077 == 0
    again = await cli(db_url, ca, "ca", "init")
    assert again.returncode == 1 and "already holds a CA" in again.stdout
    await cli(db_url, ca, "stations", "add", "CS-3", "--profile", "3")
    issued = await cli(db_url, ca, "ca", "issue", "CS-3", "--out", str(out))
    assert issued.returncode == 0, issued.stdout + issued.stderr
    leaf, root = x509.load_pem_x509_certificates((out / "CS-3.pem").read_bytes())
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CS-3"
    leaf.verify_directly_issued_by(root)
    assert leaf.not_valid_after_utc > datetime.now(UTC)
    unknown = await cli(db_url, ca, "ca", "issue", "NOPE", "--out", str(out))
    assert unknown.returncode == 1 and "no station NOPE" in unknown.stdout
    server = await cli(db_url, ca, "ca", "server", "127.0.0.1", "--out", str(out), "--key", "rsa")
    assert server.returncode == 0 and (out / "server-rsa.key").exists()
    serial = format(leaf.serial_number, "x")
    listed = await cli(db_url, ca, "certificates", "list", "--station", "CS-3")
    assert serial in listed.stdout and "issued" in listed.stdout
    revoked = await cli(db_url, ca, "ca", "revoke", serial)
    assert revoked.returncode == 0, revoked.stdout
    twice = await cli(db_url, ca, "ca", "revoke", serial)
    assert twice.returncode == 1 and "no unrevoked certificate" in twice.stdout


async def test_rotate_password_goes_through_the_running_server(
    csms: Csms, db_url: str, tmp_path: Path
) -> None:
    await add_station("CS-1", PASSWORD)
    peer = await open_peer(csms, "CS-1", PASSWORD)
    api = f"http://127.0.0.1:{csms.api_port}"
    rotation = asyncio.create_task(
        cli(db_url, tmp_path, "stations", "rotate-password", "CS-1", "--api", api)
    )
    frame = await peer.expect_call(timeout=30)
    item = frame[3]["setVariableData"][0]
    await peer.answer(
        frame[1],
        {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                }
            ]
        },
    )
    done = await rotation
    assert done.returncode == 0, done.stdout + done.stderr
    assert "new password" in done.stdout
    events = await cli(db_url, tmp_path, "security-events", "--station", "CS-1", "--api", api)
    assert "BasicAuthPasswordRotated" in events.stdout
    await peer.close()


async def test_an_import_sets_profiles_and_refuses_guessable_passwords(
    db_url: str, tmp_path: Path
) -> None:
    rows = [
        "id,password,security_profile",
        f"CS-1,{PASSWORD},2",
        f"CS-2,{PASSWORD},",
        f"CS-3,{PASSWORD},7",
        "CS-4,password12345678,1",
    ]
    csv_file = tmp_path / "stations.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    imported = await cli(db_url, tmp_path, "stations", "import", str(csv_file))
    assert imported.returncode == 1
    assert "line 4: CS-3: security profile must be 1, 2 or 3" in imported.stdout
    assert "line 5: CS-4: password too guessable" in imported.stdout
    await open_database(db_url)
    try:
        assert (await get_station("CS-1")).security_profile == 2
        assert (await get_station("CS-2")).security_profile == 1
    finally:
        await close_database()
