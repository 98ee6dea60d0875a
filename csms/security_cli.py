"""CLI commands of the security block: the built-in CA (`ca init`, `ca issue`, `ca server`,
`ca revoke`), certificates per station, certificates on stations and security events."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from csms.console import CliError, console
from csms.operator_cli import (
    Commands,
    _add_api,
    _add_common,
    call_api,
    settings_from,
    with_database,
)

CERTIFICATE_TYPES = (
    "V2GRootCertificate",
    "MORootCertificate",
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
)


def register(commands: Commands) -> None:
    ca = commands.add_parser("ca", help="the CSMS's certificate authority (profile 3, A02)")
    ca_commands = ca.add_subparsers(dest="action", required=True)
    init = ca_commands.add_parser("init", help="create the CA in CSMS_CA_DIR (./csms-ca)")
    init.add_argument("--name", default="CSMS station CA", help="the CA's common name")
    init.add_argument("--key", choices=("ecdsa", "rsa"), default="ecdsa")
    init.add_argument("--config", help="TOML settings file ([csms] table)")
    init.set_defaults(func=cmd_ca_init)
    issue = ca_commands.add_parser(
        "issue", help="issue a station a client certificate and key (profile 3) into --out"
    )
    issue.add_argument("station")
    issue.add_argument("--out", type=Path, required=True, help="directory for the PEM files")
    issue.add_argument("--days", type=int, default=365)
    _add_common(issue)
    issue.set_defaults(func=cmd_ca_issue)
    server = ca_commands.add_parser(
        "server", help="issue the CSMS a server certificate (RSA or ECDSA) into --out"
    )
    server.add_argument("names", nargs="+", help="DNS names or IP addresses")
    server.add_argument("--out", type=Path, required=True)
    server.add_argument("--key", choices=("ecdsa", "rsa"), default="ecdsa")
    server.add_argument("--days", type=int, default=365)
    server.add_argument("--config", help="TOML settings file ([csms] table)")
    server.set_defaults(func=cmd_ca_server)
    revoke = ca_commands.add_parser("revoke", help="revoke a certificate by serial (hex)")
    revoke.add_argument("serial")
    _add_common(revoke)
    revoke.set_defaults(func=cmd_ca_revoke)

    certificates = commands.add_parser("certificates", help="certificates per station (M)")
    cert_commands = certificates.add_subparsers(dest="action", required=True)
    listing = cert_commands.add_parser("list", help="certificates issued or installed")
    listing.add_argument("--station")
    _add_common(listing)
    listing.set_defaults(func=cmd_certificates_list)
    install = cert_commands.add_parser(
        "install", help="InstallCertificate on a connected station, via the running server"
    )
    install.add_argument("station")
    install.add_argument("type", choices=CERTIFICATE_TYPES)
    install.add_argument("file", type=Path, help="PEM certificate")
    _add_api(install)
    install.set_defaults(func=cmd_certificates_install)
    installed = cert_commands.add_parser(
        "installed", help="GetInstalledCertificateIds from a connected station"
    )
    installed.add_argument("station")
    _add_api(installed)
    installed.set_defaults(func=cmd_certificates_installed)
    delete = cert_commands.add_parser(
        "delete", help="DeleteCertificate of one installed on a station, by serial (hex)"
    )
    delete.add_argument("station")
    delete.add_argument("serial")
    _add_api(delete)
    delete.set_defaults(func=cmd_certificates_delete)

    events = commands.add_parser("security-events", help="security events, newest first")
    events.add_argument("--station")
    _add_api(events)
    events.set_defaults(func=cmd_security_events)


def _ca_dir(args: argparse.Namespace) -> Path:
    return Path(settings_from(args).ca_dir)


def _load(args: argparse.Namespace) -> Any:
    from csms.pki.store import CaError, load_ca

    try:
        ca = load_ca(_ca_dir(args))
    except CaError as error:
        raise CliError(str(error)) from error
    if ca is None:
        raise CliError(f"no CA in {_ca_dir(args)}: run `cli.py ca init` first")
    return ca


def cmd_ca_init(args: argparse.Namespace) -> int:
    from csms.pki.store import CaError, init_ca

    directory = _ca_dir(args)
    try:
        ca = init_ca(directory, args.name, datetime.now(UTC), args.key)
    except (CaError, OSError) as error:
        raise CliError(str(error)) from error
    console.print(
        f"[green]CA {args.name!r} created[/] in {directory} (serial "
        f"{ca.certificate.serial_number:x}); give {directory / 'ca.pem'} as "
        "CSMS_TLS_CLIENT_CA for profile 3"
    )
    return 0


def cmd_ca_issue(args: argparse.Namespace) -> int:
    from csms.blocks.stations import get_station
    from csms.identifiers import require_station_id
    from csms.pki.ca import issue_for_station, key_pem, pem

    try:
        require_station_id(args.station)
    except ValueError as error:
        raise CliError(str(error)) from error
    ca = _load(args)
    certificate, key = issue_for_station(ca, args.station, datetime.now(UTC), args.days)

    async def work() -> None:
        from csms.blocks.stations import NotFound

        try:
            await get_station(args.station)
        except NotFound as error:
            raise CliError(str(error)) from error
        await _record(certificate, ca.certificate, args.station)

    with_database(args, work)
    args.out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = args.out / f"{args.station}.pem", args.out / f"{args.station}.key"
    cert_path.write_text(pem(certificate) + ca.certificate_pem)
    key_path.write_bytes(key_pem(key))
    key_path.chmod(0o600)
    console.print(
        f"[green]certificate {certificate.serial_number:x} for {args.station}[/]: "
        f"{cert_path}, key {key_path}"
    )
    return 0


async def _record(certificate: Any, issuer: Any, station_id: str) -> None:
    from csms.blocks.certificates import certificate_fields
    from csms.db.models import Certificate

    await Certificate.create(
        **certificate_fields(
            certificate,
            issuer,
            station_id,
            "ChargingStationCertificate",
            "issued",
            datetime.now(UTC),
        )
    )


def cmd_ca_server(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from cryptography import x509

    from csms.pki.ca import issue, key_pem, new_key, pem

    ca = _load(args)
    now = datetime.now(UTC)
    key = new_key(args.key)
    certificate = issue(
        ca,
        key.public_key(),
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, args.names[0])]),
        now - timedelta(minutes=5),
        now + timedelta(days=args.days),
        server_names=tuple(args.names),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = args.out / f"server-{args.key}.pem", args.out / f"server-{args.key}.key"
    cert_path.write_text(pem(certificate) + ca.certificate_pem)
    key_path.write_bytes(key_pem(key))
    key_path.chmod(0o600)
    console.print(f"[green]{args.key} server certificate[/]: {cert_path}, key {key_path}")
    return 0


def cmd_ca_revoke(args: argparse.Namespace) -> int:
    from csms.db.models import Certificate

    try:
        serial = format(int(args.serial, 16), "x")
    except ValueError as error:
        raise CliError(f"serial must be hexadecimal: {args.serial!r}") from error

    async def work() -> int:
        return await Certificate.filter(serial_number=serial, revoked_at__isnull=True).update(
            revoked_at=datetime.now(UTC)
        )

    if not with_database(args, work):
        raise CliError(f"no unrevoked certificate with serial {serial}")
    console.print(f"[yellow]certificate {serial} revoked[/]")
    return 0


def cmd_certificates_list(args: argparse.Namespace) -> int:
    from csms.blocks.certificates import certificate_json
    from csms.db.models import Certificate

    async def work() -> list[dict[str, Any]]:
        query = Certificate.all()
        if args.station:
            query = query.filter(station_id=args.station)
        return [certificate_json(row) for row in await query.order_by("not_after")]

    rows = with_database(args, work)
    table = Table("station", "type", "source", "serial", "subject", "expires", "revoked")
    for row in rows:
        table.add_row(
            row["station_id"] or "-",
            row["certificate_type"],
            row["source"],
            row["serial_number"],
            row["subject"],
            row["not_after"],
            row["revoked_at"] or "-",
        )
    console.print(table)
    return 0


def cmd_certificates_install(args: argparse.Namespace) -> int:
    try:
        certificate = args.file.read_text()
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error}") from error
    answer = call_api(
        args,
        "POST",
        f"/api/v1/stations/{args.station}/certificates",
        {"certificate_type": args.type, "certificate": certificate},
    )
    console.print(f"InstallCertificate: {answer['status']}")
    return 0 if answer["status"] == "Accepted" else 1


def cmd_certificates_installed(args: argparse.Namespace) -> int:
    answer = call_api(args, "GET", f"/api/v1/stations/{args.station}/installed-certificates")
    console.print_json(data=answer)
    return 0


def cmd_certificates_delete(args: argparse.Namespace) -> int:
    path = f"/api/v1/stations/{args.station}/certificates/{args.serial}"
    answer = call_api(args, "DELETE", path)
    console.print(f"DeleteCertificate: {answer['status']}")
    return 0 if answer["status"] == "Accepted" else 1


def cmd_security_events(args: argparse.Namespace) -> int:
    path = "/api/v1/security-events" + (f"?station={args.station}" if args.station else "")
    table = Table("time", "station", "source", "type", "detail")
    for event in call_api(args, "GET", path):
        table.add_row(
            event["timestamp"],
            event["station_id"],
            event["source"],
            event["type"] or "-",
            event["tech_info"] or "-",
        )
    console.print(table)
    return 0
