-- Message search moves to a file of its own (`kefu-search.db` beside `kefu.db`), filled by a
-- background indexer instead of these triggers: indexing inside every append's transaction
-- made the one writer's commits slow in bursts (FTS5 merges its segments at commit). The new
-- index is built from the messages when Kefu starts.
drop trigger messages_fts_insert;
drop trigger messages_fts_delete;
drop trigger messages_fts_update;
drop table messages_fts;
