-- On SQLite, message search moves to a file of its own, filled by a background indexer (see
-- migrations/sqlite/0015). PostgreSQL keeps its pg_trgm index on `messages.text`, maintained
-- by the insert; nothing changes here. The migration exists so both trees keep the same
-- versions.
select 1;
