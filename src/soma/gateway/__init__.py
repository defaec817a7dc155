"""The HTTP gateway: the /v1 API, Server-Sent Events, the web UI and the probes."""
