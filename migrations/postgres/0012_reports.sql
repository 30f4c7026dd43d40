-- Reports: messages of a chat by time (a session's messages), and events by kind and time.
create index messages_chat_created on messages (chat_id, created_at);
create index conversation_events_kind on conversation_events (tenant_id, kind, at);
create index conversation_sessions_started on conversation_sessions (tenant_id, started_at);
