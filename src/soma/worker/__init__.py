"""The conversation worker: runs turn jobs from the procrastinate queue."""
