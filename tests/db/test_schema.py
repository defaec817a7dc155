"""soma.db.schema reads the revisions without Alembic: it must agree with Alembic on every one."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from soma.db import migrate, schema


def test_the_head_and_every_revisions_parent_are_what_alembic_reads() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    assert schema.head() == scripts.get_current_head()
    assert schema.parents() == {s.revision: s.down_revision for s in scripts.walk_revisions()}


def test_a_revisions_lineage_is_alembics_walk_down_to_the_base() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    for revision in schema.parents():
        assert schema.lineage(revision) == [s.revision for s in scripts.iterate_revisions(revision, "base")]
