"""The OCPP edge: websocket server, handshake, framing, schema validation, version adapters."""
