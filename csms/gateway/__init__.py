"""The OCPP edge: websocket server, handshake, framing, schema validation, routing."""
