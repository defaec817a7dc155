"""Agent profiles, delegation to subordinate agents, and scheduled tasks."""

from __future__ import annotations

from soma.errors.base import NotFound, SomaError


class ProfileNotFound(NotFound):
    """No agent profile has this name. `GET /v1/profiles` lists them."""

    code = "profile_not_found"


class ProfileExists(SomaError):
    """An agent profile with this name exists already. Choose another name, or change that one with `PUT /v1/profiles/{name}`."""

    status_code = 409
    code = "profile_exists"


class InvalidProfile(SomaError):
    """The profile was not saved. Fix the named field and send it again."""

    status_code = 422
    code = "invalid_profile"


class UnknownProfile(SomaError):
    """No agent profile has this name, so nothing was made. Name one that `GET /v1/profiles` lists, or leave `profile` out for the default."""

    status_code = 422
    code = "unknown_profile"


class ProfileInUse(SomaError):
    """The profile was not deleted: scheduled tasks run with it. Give those tasks another profile, or delete them, first."""

    status_code = 409
    code = "profile_in_use"


class SubordinateChat(SomaError):
    """A subordinate agent's chat gets its one question from its parent's turn, which answers it: it takes no messages, regenerations or edits. Write in its top chat instead."""

    status_code = 409
    code = "subordinate_chat"


class TaskNotFound(NotFound):
    """No scheduled task has this id, or it is someone else's. `GET /v1/tasks` (or `soma tasks list`) lists yours."""

    code = "task_not_found"


class InvalidTask(SomaError):
    """The task was not saved. Fix the named field (a schedule is {"cron", "timezone"}, {"every_seconds"} or {"at": [dates]}) and send it again."""

    status_code = 422
    code = "invalid_task"
