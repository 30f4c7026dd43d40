-- The session list's per-session figures, kept when a session ends, so that a month of
-- sessions is read without counting their messages again (reports over 100,000 sessions and
-- 1,000,000 messages stay under 2 s). Open sessions are still counted live.
alter table conversation_sessions add column chat_id bigint;
alter table conversation_sessions add column queued_at bigint;
alter table conversation_sessions add column previous_at bigint;
alter table conversation_sessions add column agent_messages bigint;
alter table conversation_sessions add column buyer_messages bigint;

-- Sessions that ended before this version.
update conversation_sessions set chat_id = coalesce(
    (select ch.id from chats ch join conversations c on c.id = conversation_sessions.conversation_id
     where ch.tenant_id = c.tenant_id and ch.user_a = c.buyer and ch.user_b = c.service_account),
    (select ch.id from chats ch join conversations c on c.id = conversation_sessions.conversation_id
     where ch.tenant_id = c.tenant_id and ch.user_a = c.service_account and ch.user_b = c.buyer))
where ended_at is not null;
update conversation_sessions set
    queued_at = (select max(e.at) from conversation_events e
                 where e.tenant_id = conversation_sessions.tenant_id and e.conversation_id = conversation_sessions.conversation_id
                 and e.kind = 'queued' and e.at <= conversation_sessions.started_at),
    previous_at = (select max(p.started_at) from conversation_sessions p
                   where p.tenant_id = conversation_sessions.tenant_id and p.conversation_id = conversation_sessions.conversation_id
                   and p.started_at < conversation_sessions.started_at),
    agent_messages = (select count(*) from messages m
                      where m.chat_id = conversation_sessions.chat_id and m.sender_role = 'agent'
                      and m.agent_id = conversation_sessions.agent_id
                      and m.created_at >= conversation_sessions.started_at and m.created_at <= conversation_sessions.ended_at),
    buyer_messages = (select count(*) from messages m join conversations c on c.id = conversation_sessions.conversation_id
                      where m.chat_id = conversation_sessions.chat_id and m.from_account = c.buyer
                      and m.created_at >= conversation_sessions.started_at and m.created_at <= conversation_sessions.ended_at)
where ended_at is not null;
