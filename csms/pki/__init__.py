"""Certificates: the built-in CA, OCPP certificate hash data and OCSP, built on `cryptography`."""
