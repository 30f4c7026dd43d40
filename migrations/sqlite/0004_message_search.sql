-- Substring search over message text in any language: an FTS5 index with the trigram
-- tokenizer (case-insensitive), kept in step with messages by triggers. Queries shorter than
-- three characters cannot use trigrams and scan the tenant's messages instead.
create virtual table messages_fts using fts5(text, content = 'messages', content_rowid = 'id', tokenize = 'trigram');

create trigger messages_fts_insert after insert on messages begin
    insert into messages_fts (rowid, text) values (new.id, new.text);
end;

create trigger messages_fts_delete after delete on messages begin
    insert into messages_fts (messages_fts, rowid, text) values ('delete', old.id, old.text);
end;

create trigger messages_fts_update after update of text on messages begin
    insert into messages_fts (messages_fts, rowid, text) values ('delete', old.id, old.text);
    insert into messages_fts (rowid, text) values (new.id, new.text);
end;
