"""The web UI: plain ES modules, CSS and three HTML pages, a client of /v1 like the CLI (no build step)."""
