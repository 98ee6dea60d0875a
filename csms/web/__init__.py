"""The operator web console, served by the API server at `/` (see `console.install`)."""
