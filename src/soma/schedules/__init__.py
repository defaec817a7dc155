"""Scheduled tasks: schedules, the task store, the scheduler that turns due times into turns, run outcomes and webhooks."""
