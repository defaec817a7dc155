"""The sandbox: `soma sandbox` runs the agent's code in a fresh bubblewrap jail per run (docs/architecture.md, "The sandbox")."""
