"""PostgreSQL access: where the database is, the engine, the schema and its migrations."""
