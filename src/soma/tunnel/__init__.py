"""Public access through a Cloudflare tunnel: the desired state in PostgreSQL, the guard, and the supervisor of cloudflared."""
