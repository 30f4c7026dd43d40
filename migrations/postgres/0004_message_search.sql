-- Substring search over message text in any language: a trigram GIN index that serves
-- `ilike '%…%'`. pg_trgm is a trusted extension (PostgreSQL 13+), so the database owner can
-- create it without superuser rights.
create extension if not exists pg_trgm;
create index messages_text_trgm on messages using gin (text gin_trgm_ops);
