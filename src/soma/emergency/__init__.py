"""The emergency stop (runbook 5): take every Soma process dark in one command, and come back with --lift."""
