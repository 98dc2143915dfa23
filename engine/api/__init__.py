"""The engine's HTTP API: Docker Engine API v1.41 shapes over a unix socket (trio + h11)."""
