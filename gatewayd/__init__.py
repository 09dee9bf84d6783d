"""gatewayd: a carrier-facing SMS gateway daemon."""
