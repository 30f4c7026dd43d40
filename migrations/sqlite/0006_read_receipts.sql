-- Read receipts: how far each party of a chat has read.
alter table chats add column a_read_seq integer not null default 0;
alter table chats add column b_read_seq integer not null default 0;
