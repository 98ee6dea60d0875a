"""The REST API (aiohttp) and its OpenAPI document."""
