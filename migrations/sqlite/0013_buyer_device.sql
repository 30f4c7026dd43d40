-- What a buyer last connected with (the socket's User-Agent) and when, for the agent console.
alter table im_accounts add column device text not null default '';
alter table im_accounts add column last_login_at integer;
