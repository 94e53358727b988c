"""Control surfaces: the CLI, the HTTP API and its client; adapters over Operations."""
