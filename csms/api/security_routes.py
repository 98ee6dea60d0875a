"""REST routes of the security block: password rotation, profile upgrades, security events."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from csms.api.responses import error, error_content, json_body, json_content, json_response
from csms.api.server import csms_of, station_answer
from csms.blocks import certificates, security, stations


async def post_rotate_password(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    csms = csms_of(request)

    async def rotate() -> dict[str, object]:
        return (await csms.security.rotate_password(station_id)).to_json()

    try:
        return await station_answer(station_id, rotate)
    except ValueError as failure:
        return error(409, str(failure))


async def post_security_profile(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    data = await json_body(request)
    profile = data.get("security_profile") if isinstance(data, dict) else None
    if not isinstance(profile, int) or isinstance(profile, bool):
        return error(422, "field 'security_profile' (1, 2 or 3) is required")
    csms = csms_of(request)

    async def upgrade() -> dict[str, object]:
        status = await csms.security.raise_profile(station_id, profile)
        return {"station_id": station_id, "pending_profile": profile, "status": status}

    try:
        return await station_answer(station_id, upgrade)
    except ValueError as failure:
        return error(422, str(failure))
    except stations.NotFound as failure:
        return error(404, str(failure))
    except security.StationRefused as failure:
        return error(409, str(failure))


async def get_security_events(request: web.Request) -> web.Response:
    rows = await csms_of(request).security.events(request.query.get("station"))
    return json_response([security.event_json(row) for row in rows])


async def get_certificates(request: web.Request) -> web.Response:
    rows = await csms_of(request).certificates.listed(request.query.get("station"))
    return json_response([certificates.certificate_json(row) for row in rows])


def _serial(request: web.Request) -> str | None:
    serial = request.match_info["serial"]
    try:
        int(serial, 16)
    except ValueError:
        return None
    return serial


async def post_revoke(request: web.Request) -> web.Response:
    serial = _serial(request)
    if serial is None:
        return error(422, "the serial number is hexadecimal")
    if not await csms_of(request).certificates.revoke(serial):
        return error(404, f"no unrevoked certificate {serial}")
    return json_response({"serial_number": serial.lower().lstrip("0") or "0", "revoked": True})


async def post_install_certificate(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    data = await json_body(request)
    kind = data.get("certificate_type") if isinstance(data, dict) else None
    pem = data.get("certificate") if isinstance(data, dict) else None
    if kind not in CERTIFICATE_TYPES or not isinstance(pem, str):
        return error(
            422, f"fields certificate_type ({', '.join(CERTIFICATE_TYPES)}) and certificate (PEM)"
        )
    csms = csms_of(request)

    async def install() -> dict[str, Any]:
        return {"status": await csms.certificates.install(station_id, kind, pem)}

    try:
        return await station_answer(station_id, install)
    except ValueError as failure:
        return error(422, str(failure))


async def get_installed_certificates(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    types = request.query.getall("type", []) or None
    csms = csms_of(request)
    return await station_answer(
        station_id, lambda: csms.certificates.installed_ids(station_id, types)
    )


async def delete_certificate(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    serial = _serial(request)
    if serial is None:
        return error(422, "the serial number is hexadecimal")
    csms = csms_of(request)

    async def delete() -> dict[str, Any]:
        return {"status": await csms.certificates.delete(station_id, serial)}

    try:
        return await station_answer(station_id, delete)
    except certificates.CertificateNotFound as failure:
        return error(404, str(failure))


CERTIFICATE_TYPES = (
    "V2GRootCertificate",
    "MORootCertificate",
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/stations/{id}/rotate-password", post_rotate_password)
    app.router.add_post("/api/v1/stations/{id}/security-profile", post_security_profile)
    app.router.add_get("/api/v1/security-events", get_security_events)
    app.router.add_get("/api/v1/certificates", get_certificates)
    app.router.add_post("/api/v1/certificates/{serial}/revoke", post_revoke)
    app.router.add_post("/api/v1/stations/{id}/certificates", post_install_certificate)
    app.router.add_get("/api/v1/stations/{id}/installed-certificates", get_installed_certificates)
    app.router.add_delete("/api/v1/stations/{id}/certificates/{serial}", delete_certificate)


def openapi_paths() -> dict[str, Any]:
    """The security routes for the OpenAPI document."""
    station = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    serial = {"name": "serial", "in": "path", "required": True, "schema": {"type": "string"}}
    failures = {
        "404": error_content("no such station"),
        "409": error_content("not connected, refused by the station, or not applicable"),
        "504": error_content("the station did not answer in time"),
    }
    event = {
        "type": "object",
        "properties": {
            "station_id": {"type": "string"},
            "source": {"type": "string", "enum": ["csms", "station"]},
            "type": {"type": "string"},
            "tech_info": {"type": ["string", "null"]},
            "timestamp": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "/api/v1/stations/{id}/rotate-password": {
            "post": {
                "summary": "A01: send the station a new random password (SetVariables); its "
                "hash is stored on Accepted and the old one works until the new one is used",
                "parameters": [station],
                "responses": {
                    "200": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "station_id": {"type": "string"},
                                "accepted": {"type": "boolean"},
                                "status": {"type": "string"},
                            },
                        },
                        "the station's answer (the password is never returned)",
                    ),
                    **failures,
                },
            }
        },
        "/api/v1/stations/{id}/security-profile": {
            "post": {
                "summary": "A05: raise the station's security profile (SetVariables, then "
                "Reset OnIdle); lower profiles are refused once it connected with the new one",
                "parameters": [station],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["security_profile"],
                                "properties": {"security_profile": {"enum": [2, 3]}},
                            }
                        }
                    }
                },
                "responses": {
                    "200": json_content({"type": "object"}, "the profile is pending"),
                    "422": error_content("not a higher profile"),
                    **failures,
                },
            }
        },
        "/api/v1/certificates": {
            "get": {
                "summary": "Certificates the CSMS issued or installed, soonest expiry first",
                "parameters": [{"name": "station", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": json_content({"type": "array"}, "certificates")},
            }
        },
        "/api/v1/certificates/{serial}/revoke": {
            "post": {
                "summary": "Revoke a certificate (hex serial): profile-3 handshakes and OCSP "
                "answers refuse it from now on",
                "parameters": [serial],
                "responses": {
                    "200": json_content({"type": "object"}, "revoked"),
                    "404": error_content("no such unrevoked certificate"),
                    "422": error_content("not a hex serial"),
                },
            }
        },
        "/api/v1/stations/{id}/certificates": {
            "post": {
                "summary": "InstallCertificate on the station; recorded on Accepted",
                "parameters": [station],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["certificate_type", "certificate"],
                                "properties": {
                                    "certificate_type": {"enum": list(CERTIFICATE_TYPES)},
                                    "certificate": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": json_content({"type": "object"}, "the station's status"),
                    "422": error_content("not a certificate type or PEM certificate"),
                    **failures,
                },
            }
        },
        "/api/v1/stations/{id}/installed-certificates": {
            "get": {
                "summary": "GetInstalledCertificateIds, asked of the station",
                "parameters": [
                    station,
                    {"name": "type", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": json_content({"type": "object"}, "its answer"), **failures},
            }
        },
        "/api/v1/stations/{id}/certificates/{serial}": {
            "delete": {
                "summary": "DeleteCertificate of one installed on the station (hex serial)",
                "parameters": [station, serial],
                "responses": {"200": json_content({"type": "object"}, "its status"), **failures},
            }
        },
        "/api/v1/security-events": {
            "get": {
                "summary": "Security events, newest first (at most 200): the stations' "
                "SecurityEventNotifications and the CSMS's own (refused handshakes, "
                "rotations, profile changes)",
                "parameters": [{"name": "station", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": json_content({"type": "array", "items": event}, "events")},
            }
        },
    }
