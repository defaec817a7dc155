"""Who may do what: users and their login sessions, API keys, one-time setup links, rate limits."""
