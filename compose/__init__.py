"""The Compose client: compose files in, a running stack out (through the engine API)."""
