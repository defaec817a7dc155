"""Single sign-on with an OpenID Connect provider: the provider's documents and keys, started logins, accounts bound to (issuer, subject)."""
