"""Single sign-on: users bound to an identity provider's (issuer, subject), invited by e-mail, break-glass admins; how each
login session began; and the logins started at the provider and not yet finished.

`users.oidc_issuer` + `oidc_subject` name the person at the provider: unique together, never reused. `users.email` is
what an admin invited (invite mode binds the account on the first login with that verified e-mail) or what the
provider said at the last login. `users.break_glass` marks the local admins created by `soma users create --break-glass`,
whose password works even with SOMA_LOCAL_LOGIN=false. `login_sessions.method` is `password`, `break_glass` or `oidc`.
`oidc_logins` holds a started login for 10 minutes: the digests of its `state` and of the browser's binding cookie,
the nonce, the PKCE verifier, the path to return to and the client's address; the callback deletes the row it uses.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("oidc_issuer", sa.Text))
    op.add_column("users", sa.Column("oidc_subject", sa.Text))
    op.add_column("users", sa.Column("email", sa.Text))
    op.add_column("users", sa.Column("break_glass", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_check_constraint("users_oidc_pair_check", "users", "(oidc_issuer IS NULL) = (oidc_subject IS NULL)")
    op.create_index("users_oidc_identity", "users", ["oidc_issuer", "oidc_subject"], unique=True)
    # An invitation names one account: two unbound accounts with one e-mail would make the binding a guess.
    op.execute("CREATE UNIQUE INDEX users_invited_email ON users (lower(email)) WHERE oidc_subject IS NULL AND email IS NOT NULL")
    op.add_column("login_sessions", sa.Column("method", sa.Text, nullable=False, server_default="password"))
    op.create_check_constraint("login_sessions_method_check", "login_sessions", "method IN ('password', 'break_glass', 'oidc')")
    op.create_table(
        "oidc_logins",
        sa.Column("state_hash", sa.Text, primary_key=True),  # sha256 of the state sent to the provider
        sa.Column("browser_hash", sa.Text, nullable=False),  # sha256 of the binding cookie of the browser that started it
        sa.Column("nonce", sa.Text, nullable=False),
        sa.Column("code_verifier", sa.Text, nullable=False),
        sa.Column("next_path", sa.Text, nullable=False),
        sa.Column("client_address", sa.Text),  # who started it: a stranger may hold only so many at once
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("oidc_logins_expires", "oidc_logins", ["expires_at"])
    op.create_index("oidc_logins_client", "oidc_logins", ["client_address"])


def downgrade() -> None:
    op.drop_table("oidc_logins")
    op.drop_constraint("login_sessions_method_check", "login_sessions")
    op.drop_column("login_sessions", "method")
    op.execute("DROP INDEX users_invited_email")
    op.drop_index("users_oidc_identity", "users")
    op.drop_constraint("users_oidc_pair_check", "users")
    for column in ("break_glass", "email", "oidc_subject", "oidc_issuer"):
        op.drop_column("users", column)
