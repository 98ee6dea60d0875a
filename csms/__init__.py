"""The OCPP central system: gateway, functional blocks, storage, grid planning and API."""
