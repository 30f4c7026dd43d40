//! The realtime socket `/im/ws`: one JSON text frame per message, as written up in
//! docs/protocol.md.
//!
//! Delivery is driven by the store. Each connection keeps, per chat, the last sequence it
//! sent; a hint from the hub (or a `sync` from the client) makes it read the messages after
//! that sequence and send them in order. So a message is never sent twice on one connection,
//! and a client that reconnects and syncs from its last sequence misses nothing.

use crate::envelope::ImError;
use crate::hub::{Hint, Login, close};
use crate::{GatewayState, openim};
use crate::{callbacks, elements};
use futures::{SinkExt, StreamExt};
use kefu_domain::TenantId;
use kefu_store::{NewMessage, StoredMessage};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::{Data, websocket::CloseCode};
use poem::{IntoResponse, handler};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// The first frame must be `auth`, within this time.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages read from the store per round while catching a chat up.
const PAGE: i64 = 200;
/// Chats listed in `auth_ok`.
const CHAT_LIST: i64 = 100;
/// Frames larger than this are refused (the REST limit, with room for the envelope).
const MAX_FRAME: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Auth {
        sdkappid: Option<i64>,
        identifier: Option<String>,
        usersig: Option<String>,
        token: Option<String>,
    },
    Send {
        id: String,
        to: String,
        body: Value,
        #[serde(default)]
        cloud_custom_data: String,
    },
    Sync {
        chat_id: i64,
        after_seq: i64,
    },
    Typing {
        to: String,
    },
    Read {
        chat_id: i64,
        seq: i64,
    },
    /// The buyer leaves their conversation with a customer-service account (the widget's
    /// end button): it ends as `buyer_left`.
    Leave {
        to: String,
    },
    Ping,
}

#[derive(Debug, Serialize)]
struct ChatSummary {
    chat_id: i64,
    peer: String,
    last_seq: i64,
    /// How far this account has read.
    read_seq: i64,
    /// How far the other party has read.
    peer_read_seq: i64,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame<'a> {
    AuthOk {
        identifier: &'a str,
        chats: Vec<ChatSummary>,
    },
    /// Answer to `leave`: whether an open conversation was ended.
    Left {
        to: &'a str,
        ended: bool,
    },
    Ack {
        id: &'a str,
        chat_id: i64,
        seq: i64,
        msg_key: &'a str,
        msg_time: i64,
        duplicate: bool,
    },
    Msg {
        chat_id: i64,
        seq: i64,
        from: &'a str,
        to: &'a str,
        msg_key: &'a str,
        msg_time: i64,
        flag_bits: i64,
        body: Value,
        cloud_custom_data: &'a str,
    },
    Recalled {
        chat_id: i64,
        seq: i64,
    },
    Typing {
        from: &'a str,
    },
    Read {
        chat_id: i64,
        by: &'a str,
        seq: i64,
    },
    /// One of this console's conversations changed (assigned, transferred, ended…).
    Conversation {
        conversation_id: i64,
        change: kefu_domain::event::ConversationChange,
    },
    Error {
        code: i64,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
    },
    Pong,
}

/// Who is on the other end.
pub(crate) struct Peer {
    pub(crate) tenant: TenantId,
    identity: String,
    login: Login,
    /// Unix seconds after which the UserSig is expired.
    expires_at: Option<i64>,
    /// Console logins receive but do not send (agents send through routing).
    can_send: bool,
    /// When this socket last sent a typing signal (ms), to pass on at most one a second.
    last_typing: std::sync::atomic::AtomicI64,
}

#[handler]
pub async fn upgrade(
    ws: WebSocket,
    state: Data<&GatewayState>,
    headers: &poem::http::HeaderMap,
) -> impl IntoResponse {
    let state = state.clone();
    // What the client runs on, shown to agents as the buyer's device.
    let device = headers
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // A small read buffer keeps idle sockets cheap; tungstenite's default is 128 KiB.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    ws.config(config)
        .on_upgrade(move |socket| serve(socket, state, device))
}

type Sink = futures::stream::SplitSink<WebSocketStream, Message>;

async fn send(sink: &mut Sink, frame: &ServerFrame<'_>) -> bool {
    match serde_json::to_string(frame) {
        Ok(text) => sink.send(Message::Text(text)).await.is_ok(),
        Err(_) => false,
    }
}

async fn fail_and_close(sink: &mut Sink, e: &ImError, code: u16) {
    send(
        sink,
        &ServerFrame::Error {
            code: e.code,
            message: &e.info,
            id: None,
        },
    )
    .await;
    let _ = sink
        .send(Message::close_with(CloseCode::from(code), e.info.clone()))
        .await;
}

async fn serve(socket: WebSocketStream, state: GatewayState, device: String) {
    let (mut sink, mut stream) = socket.split();
    let first = tokio::time::timeout(AUTH_TIMEOUT, stream.next()).await;
    let frame = match first {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<ClientFrame>(&text).ok(),
        _ => None,
    };
    let peer = match frame {
        Some(ClientFrame::Auth {
            sdkappid,
            identifier,
            usersig,
            token,
        }) => authenticate(&state, sdkappid, identifier, usersig, token).await,
        _ => Err(ImError::new(
            70402,
            "the first frame must be {\"type\":\"auth\",…} within 10 seconds",
        )),
    };
    let peer = match peer {
        Ok(p) => p,
        Err(e) => return fail_and_close(&mut sink, &e, close::AUTH_FAILED).await,
    };
    let (registration, mut hints, killer) =
        state.hub.register(peer.tenant, &peer.identity, peer.login);

    // Every chat the client may know starts at its current end: what comes next is live.
    let mut cursors: HashMap<i64, i64> = HashMap::new();
    let chats = match state
        .store
        .chats_of(peer.tenant, &peer.identity, CHAT_LIST)
        .await
    {
        Ok(c) => c,
        Err(e) => return fail_and_close(&mut sink, &ImError::from(e), close::AUTH_FAILED).await,
    };
    let summaries = chats
        .iter()
        .map(|c| {
            cursors.insert(c.id, c.last_seq);
            ChatSummary {
                chat_id: c.id,
                peer: c.peer_of(&peer.identity).to_string(),
                last_seq: c.last_seq,
                read_seq: c.read_seq_of(&peer.identity),
                peer_read_seq: c.read_seq_of(c.peer_of(&peer.identity)),
            }
        })
        .collect();
    if !send(
        &mut sink,
        &ServerFrame::AuthOk {
            identifier: &peer.identity,
            chats: summaries,
        },
    )
    .await
    {
        return;
    }
    // Logged in and told so: from here on the socket counts as present, and whatever ends it
    // goes through the clean-up after the loop.
    let presence = crate::hub::presence_key(peer.tenant, &peer.identity);
    let member = registration.member();
    touch(&state, &presence, &member).await;
    console_seen(&state, &peer).await;
    if matches!(peer.login, Login::Sig { .. })
        && let Err(e) = state
            .store
            .record_im_login(peer.tenant, &peer.identity, &device, state.clock.now())
            .await
    {
        tracing::debug!(error = %e, "the buyer's device was not recorded");
    }
    let mut refresh = tokio::time::interval(crate::hub::PRESENCE_REFRESH);
    state_change(&state, &peer, "Login", "Register").await;
    // How the socket ended, for the State.StateChange callback.
    let mut ended = ("Disconnect", "LinkClose".to_string());

    let expiry = peer.expires_at.map(|at| {
        let left_ms = (at * 1000 - state.clock.now()).max(0) as u64;
        tokio::time::Instant::now() + Duration::from_millis(left_ms)
    });
    let expired = async {
        match expiry {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expired);

    loop {
        tokio::select! {
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => continue,
                    _ => break,
                };
                if !on_frame(&state, &peer, &mut sink, &mut cursors, &text).await {
                    break;
                }
            }
            hint = hints.recv() => {
                let Some(hint) = hint else { break };
                let ok = match hint {
                    Hint::Chat { chat_id, seq, content } => {
                        // A chat this connection has not seen: it started after login.
                        let from = *cursors.entry(chat_id).or_insert_with(|| if seq <= PAGE { 0 } else { seq - 1 });
                        match content {
                            // Already sent (read back with an earlier message).
                            _ if from >= seq => true,
                            // The next message, carried by the event: no need to read it back.
                            Some(m) if from == seq - 1 => {
                                cursors.insert(chat_id, seq);
                                push(&state, &peer, &mut sink, chat_id, seq, &m).await
                            }
                            _ => catch_up(&state, peer.tenant, &mut sink, &mut cursors, chat_id, from).await,
                        }
                    }
                    Hint::Recalled { chat_id, seq } => send(&mut sink, &ServerFrame::Recalled { chat_id, seq }).await,
                    Hint::Typing { from } => send(&mut sink, &ServerFrame::Typing { from: &from }).await,
                    Hint::Read { chat_id, by, seq } => send(&mut sink, &ServerFrame::Read { chat_id, by: &by, seq }).await,
                    Hint::Conversation { conversation_id, change } => {
                        send(&mut sink, &ServerFrame::Conversation { conversation_id, change }).await
                    }
                };
                if !ok {
                    break;
                }
            }
            (code, reason) = killer.killed() => {
                ended = ("Logout", reason.clone());
                let _ = sink.send(Message::close_with(CloseCode::from(code), reason)).await;
                break;
            }
            () = &mut expired => {
                ended = ("Logout", "expired".to_string());
                let _ = sink.send(Message::close_with(CloseCode::from(close::EXPIRED), "expired: log in with a new UserSig")).await;
                break;
            }
            _ = refresh.tick() => {
                touch(&state, &presence, &member).await;
                console_seen(&state, &peer).await;
            }
        }
    }
    // The console grace period runs from the moment the last console went away.
    console_seen(&state, &peer).await;
    if let Err(e) = state.bus.presence_remove(&presence, &member).await {
        tracing::warn!(error = %e, "could not clear presence; it lapses on its own");
    }
    state_change(&state, &peer, ended.0, &ended.1).await;
}

/// Queues `State.StateChange` for an IM account's socket coming or going.
async fn state_change(state: &GatewayState, peer: &Peer, action: &str, reason: &str) {
    if !matches!(peer.login, Login::Sig { .. }) {
        return;
    }
    let Ok(Some(app)) = kefu_engine::cache::im_app(&state.store, peer.tenant).await else {
        return;
    };
    let body = serde_json::json!({
        "CallbackCommand": callbacks::STATE_CHANGE,
        "EventTime": state.clock.now(),
        "Info": { "Action": action, "To_Account": peer.identity, "Reason": reason },
        "KickedDevice": [],
    });
    callbacks::queue(state, &app, callbacks::STATE_CHANGE, body).await;
}

/// Records that an agent's console is connected, in the database, so that every node's
/// sweep knows the agent is still there (see `Engine::sweep`).
async fn console_seen(state: &GatewayState, peer: &Peer) {
    if !matches!(peer.login, Login::Console { .. }) {
        return;
    }
    let Some(agent) = peer
        .identity
        .strip_prefix("account:")
        .and_then(|id| id.parse().ok())
    else {
        return;
    };
    let agent = kefu_domain::AccountId(agent);
    if let Err(e) = state
        .store
        .console_seen(peer.tenant, agent, state.clock.now())
        .await
    {
        tracing::warn!(error = %e, "could not record that an agent's console is connected");
    }
}

/// Marks this connection present for the next `PRESENCE_TTL_MS`.
async fn touch(state: &GatewayState, key: &str, member: &str) {
    let until = state.clock.now() + crate::hub::PRESENCE_TTL_MS;
    if let Err(e) = state.bus.presence_touch(key, member, until).await {
        tracing::warn!(error = %e, "could not record presence");
    }
}

pub(crate) async fn authenticate(
    state: &GatewayState,
    sdkappid: Option<i64>,
    identifier: Option<String>,
    usersig: Option<String>,
    token: Option<String>,
) -> Result<Peer, ImError> {
    if let Some(token) = token {
        let found = state
            .store
            .authenticate(
                &kefu_auth::token::digest(&token),
                state.clock.now() - kefu_auth::Settings::default().token_idle,
                state.clock.now(),
            )
            .await?;
        let Some((session, account)) = found else {
            return Err(ImError::new(
                70001,
                "the console token has ended; log in again",
            ));
        };
        let tenant = account
            .tenant_id
            .ok_or_else(|| ImError::new(60010, "operators have no console socket"))?;
        return Ok(Peer {
            tenant,
            identity: kefu_domain::authz::subject(account.id),
            login: Login::Console {
                session_id: session.id,
            },
            expires_at: None,
            can_send: false,
            last_typing: Default::default(),
        });
    }
    let sdk_app_id = sdkappid.ok_or_else(|| {
        ImError::new(
            60012,
            "auth needs sdkappid, identifier and usersig, or a console token",
        )
    })?;
    let identifier = identifier
        .filter(|i| !i.is_empty() && i.len() <= 32)
        .ok_or_else(|| ImError::new(70402, "identifier must be 1 to 32 bytes"))?;
    let app = crate::rest::enabled_app(state, sdk_app_id).await?;
    let claims = kefu_usersig::verify(
        usersig.as_deref().unwrap_or(""),
        sdk_app_id as u64,
        &identifier,
        &app.secret_key,
        state.clock.now() / 1000,
    )
    .map_err(|e| ImError::new(e.code(), e.to_string()))?;
    let signed_at = claims.time * 1000;
    match state
        .store
        .get_im_account(app.tenant_id, &identifier)
        .await?
    {
        Some(account) if account.kicked_at.is_some_and(|k| k >= signed_at) => {
            return Err(ImError::new(
                70001,
                "this UserSig was invalidated by a kick; generate a new one",
            ));
        }
        Some(_) => {}
        None => {
            // A buyer the tenant's back end signed for but never imported: import on first login.
            let account = kefu_store::ImAccount {
                user_id: identifier.clone(),
                nick: String::new(),
                face_url: String::new(),
                kind: 0,
                created_at: state.clock.now(),
                kicked_at: None,
            };
            state
                .store
                .import_im_account(app.tenant_id, &account)
                .await?;
        }
    }
    Ok(Peer {
        tenant: app.tenant_id,
        identity: identifier,
        login: Login::Sig { signed_at },
        expires_at: Some(claims.expires_at()),
        can_send: true,
        last_typing: Default::default(),
    })
}

/// Handles one client frame; false ends the connection.
async fn on_frame(
    state: &GatewayState,
    peer: &Peer,
    sink: &mut Sink,
    cursors: &mut HashMap<i64, i64>,
    text: &str,
) -> bool {
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Ok(f) => f,
        Err(e) => {
            let message = format!("not a frame this server understands: {e}");
            return send(
                sink,
                &ServerFrame::Error {
                    code: 90001,
                    message: &message,
                    id: None,
                },
            )
            .await;
        }
    };
    match frame {
        ClientFrame::Ping => send(sink, &ServerFrame::Pong).await,
        ClientFrame::Read { chat_id, seq } => read(state, peer, sink, chat_id, seq).await,
        ClientFrame::Typing { to } => {
            if !peer.can_send || to.is_empty() || to.len() > 32 {
                return send(
                    sink,
                    &ServerFrame::Error {
                        code: 90003,
                        message: "typing needs a `to` account this socket may write to",
                        id: None,
                    },
                )
                .await;
            }
            let now = state.clock.now();
            let last = peer.last_typing.load(std::sync::atomic::Ordering::Relaxed);
            if now - last >= state.typing_interval_ms {
                peer.last_typing
                    .store(now, std::sync::atomic::Ordering::Relaxed);
                // A buyer typing to a customer-service account is shown to the agent serving
                // them, whose console listens under its own identity. Only those accounts have
                // conversations; typing to anyone else goes straight through without a read.
                let agent = if is_service_account(state, peer.tenant, &to).await {
                    match state
                        .store
                        .open_conversation_of(peer.tenant, &peer.identity, &to)
                        .await
                    {
                        Ok(c) => c.and_then(|c| c.agent_id),
                        Err(e) => {
                            tracing::debug!(error = %e, "typing: the conversation was not found");
                            None
                        }
                    }
                } else {
                    None
                };
                let mut targets = vec![to];
                targets.extend(agent.map(kefu_domain::authz::subject));
                for to in targets {
                    let event = kefu_domain::event::Event::Typing {
                        tenant_id: peer.tenant,
                        from: peer.identity.clone(),
                        to,
                    };
                    if let Err(e) = state
                        .bus
                        .publish(kefu_domain::event::topic::SIGNALS, &event)
                        .await
                    {
                        tracing::debug!(error = %e, "typing signal lost");
                    }
                }
            }
            true
        }
        ClientFrame::Leave { to } => {
            if !peer.can_send {
                return send(
                    sink,
                    &ServerFrame::Error {
                        code: 90003,
                        message: "only buyers leave a conversation; agents end it with POST /api/v1/conversations/{id}/end",
                        id: None,
                    },
                )
                .await;
            }
            let engine = kefu_engine::Engine::new(
                state.store.clone(),
                state.bus.clone(),
                state.clock.clone(),
            );
            let frame = match engine.buyer_left(peer.tenant, &peer.identity, &to).await {
                Ok(ended) => ServerFrame::Left { to: &to, ended },
                Err(e) => {
                    tracing::warn!(error = %e, "a buyer's leave was not recorded");
                    ServerFrame::Error {
                        code: 90994,
                        message: "leaving failed; try again",
                        id: None,
                    }
                }
            };
            send(sink, &frame).await
        }
        ClientFrame::Auth { .. } => {
            send(
                sink,
                &ServerFrame::Error {
                    code: 70402,
                    message: "already authenticated",
                    id: None,
                },
            )
            .await
        }
        ClientFrame::Sync { chat_id, after_seq } => {
            match state.store.get_chat(peer.tenant, chat_id).await {
                Ok(Some(chat)) if chat.has_party(&peer.identity) => {
                    cursors.insert(chat_id, after_seq.max(0));
                    catch_up(state, peer.tenant, sink, cursors, chat_id, after_seq.max(0)).await
                }
                Ok(_) => {
                    send(
                        sink,
                        &ServerFrame::Error {
                            code: 90048,
                            message: "no such chat for this account",
                            id: None,
                        },
                    )
                    .await
                }
                Err(e) => {
                    send(
                        sink,
                        &ServerFrame::Error {
                            code: ImError::from(e).code,
                            message: "internal error, please retry",
                            id: None,
                        },
                    )
                    .await
                }
            }
        }
        ClientFrame::Send {
            id,
            to,
            body,
            cloud_custom_data,
        } => match send_message(state, peer, &id, &to, &body, cloud_custom_data).await {
            Ok(m) => {
                let ack = ServerFrame::Ack {
                    id: &id,
                    chat_id: m.0.chat_id,
                    seq: m.0.seq,
                    msg_key: &m.0.msg_key,
                    msg_time: m.0.msg_time,
                    duplicate: m.1,
                };
                send(sink, &ack).await
            }
            Err(e) => {
                send(
                    sink,
                    &ServerFrame::Error {
                        code: e.code,
                        message: &e.info,
                        id: Some(&id),
                    },
                )
                .await
            }
        },
    }
}

async fn send_message(
    state: &GatewayState,
    peer: &Peer,
    id: &str,
    to: &str,
    body: &Value,
    cloud: String,
) -> Result<(StoredMessage, bool), ImError> {
    if !peer.can_send {
        return Err(ImError::new(
            60010,
            "console sockets receive only; agents reply through the conversation API",
        ));
    }
    if id.is_empty() || id.len() > 64 {
        return Err(ImError::invalid(
            "id must be 1 to 64 characters, unique per message",
        ));
    }
    if to.is_empty() || to.len() > 32 {
        return Err(ImError::new(90003, "to must be an account UserID"));
    }
    let app = kefu_engine::cache::im_app(&state.store, peer.tenant)
        .await?
        .ok_or_else(|| ImError::internal("app vanished"))?;
    if !app.is_built_in(to)
        && !kefu_engine::cache::im_account_exists(&state.store, peer.tenant, to).await?
    {
        return Err(ImError::new(
            90012,
            format!("`{to}` is not an account of this app"),
        ));
    }
    let mut body_json = body.clone();
    state.media.canonicalize(Some(&mut body_json));
    let mut text = elements::check(Some(&body_json))?;
    // The client's id stands in for MsgSeq/MsgRandom, so a resend after a reconnect is
    // recognised as the same message.
    let msg_random = crc32fast::hash(id.as_bytes()) as i64;
    // MsgSeq 0: messages of the same second then keep their arrival order in history.
    let msg_seq = 0;
    let now = state.clock.now();
    let msg_time = now / 1000;
    let key = format!("{msg_seq}_{msg_random}_{msg_time}");
    let original = serde_json::to_string(&body_json).map_err(ImError::internal)?;
    let mut before = callbacks::before_send_body(
        &peer.identity,
        to,
        msg_seq,
        msg_random,
        msg_time,
        &key,
        &original,
        &cloud,
    );
    state
        .media
        .sign(peer.tenant, &app.secret_key, &mut before["MsgBody"], now);
    match callbacks::before_send(&state.http, &app, &before, "Web", msg_time).await {
        callbacks::Verdict::Allow => {}
        callbacks::Verdict::Reject(e) => return Err(e),
        callbacks::Verdict::Rewrite(mut new_body) => {
            state.media.canonicalize(Some(&mut new_body));
            text = elements::check(Some(&new_body))?;
            body_json = new_body;
        }
    }
    if openim::moderate(state, peer.tenant, &mut body_json).await? {
        text = elements::check(Some(&body_json))?;
    }
    let body = serde_json::to_string(&body_json).map_err(ImError::internal)?;
    let message = NewMessage {
        sender_role: String::new(),
        agent_id: None,
        from_account: peer.identity.clone(),
        to_account: to.to_string(),
        msg_seq,
        msg_random,
        msg_time,
        content_crc: crc32fast::hash(body.as_bytes()) as i64,
        callback: callbacks::after_send(
            &app,
            &peer.identity,
            to,
            msg_seq,
            msg_random,
            msg_time,
            &body,
            &cloud,
        ),
        text,
        body,
        cloud_custom_data: cloud,
        created_at: now,
    };
    let appended = openim::append(state, &app, message, true).await?;
    Ok((appended.message, appended.duplicate))
}

/// Sends a new message as the event carried it.
async fn push(
    state: &GatewayState,
    peer: &Peer,
    sink: &mut Sink,
    chat_id: i64,
    seq: i64,
    m: &crate::hub::PushedMessage,
) -> bool {
    let frame = ServerFrame::Msg {
        chat_id,
        seq,
        from: &m.from,
        to: &m.to,
        msg_key: &m.content.msg_key,
        msg_time: m.content.msg_time,
        flag_bits: 0,
        body: state.outgoing_body(peer.tenant, &m.content.body).await,
        cloud_custom_data: &m.content.cloud_custom_data,
    };
    send(sink, &frame).await
}

/// Sends every message of `chat_id` after `from`, in order, advancing the cursor.
async fn catch_up(
    state: &GatewayState,
    tenant: TenantId,
    sink: &mut Sink,
    cursors: &mut HashMap<i64, i64>,
    chat_id: i64,
    from: i64,
) -> bool {
    let mut after = from;
    loop {
        let page = match state
            .store
            .messages_after(tenant, chat_id, after, PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, chat_id, "catching a socket up failed");
                return true;
            }
        };
        for m in &page {
            let frame = ServerFrame::Msg {
                chat_id,
                seq: m.seq,
                from: &m.from_account,
                to: &m.to_account,
                msg_key: &m.msg_key,
                msg_time: m.msg_time,
                flag_bits: m.flag_bits,
                body: state.outgoing_body(tenant, &m.body).await,
                cloud_custom_data: &m.cloud_custom_data,
            };
            if !send(sink, &frame).await {
                return false;
            }
            after = m.seq;
            cursors.insert(chat_id, after);
        }
        if (page.len() as i64) < PAGE {
            return true;
        }
    }
}

/// Records a read receipt and tells the other party (and the reader's other devices).
/// Whether `account` is one of the tenant's customer-service accounts (from the cached app;
/// when the app cannot be read, assume it is, so the agent still sees the buyer typing).
async fn is_service_account(state: &GatewayState, tenant: TenantId, account: &str) -> bool {
    match kefu_engine::cache::im_app(&state.store, tenant).await {
        Ok(Some(app)) => app.service_account(account).is_some(),
        Ok(None) => false,
        Err(_) => true,
    }
}

async fn read(state: &GatewayState, peer: &Peer, sink: &mut Sink, chat_id: i64, seq: i64) -> bool {
    let chat = match state.store.get_chat(peer.tenant, chat_id).await {
        Ok(Some(chat)) if chat.has_party(&peer.identity) => chat,
        Ok(_) => {
            return send(
                sink,
                &ServerFrame::Error {
                    code: 90048,
                    message: "no such chat for this account",
                    id: None,
                },
            )
            .await;
        }
        Err(e) => {
            return send(
                sink,
                &ServerFrame::Error {
                    code: ImError::from(e).code,
                    message: "internal error, please retry",
                    id: None,
                },
            )
            .await;
        }
    };
    let before = chat.read_seq_of(&peer.identity);
    let now_read = match state
        .store
        .mark_read(peer.tenant, chat_id, &peer.identity, seq)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return send(
                sink,
                &ServerFrame::Error {
                    code: ImError::from(e).code,
                    message: "internal error, please retry",
                    id: None,
                },
            )
            .await;
        }
    };
    if now_read > before {
        let other = chat.peer_of(&peer.identity).to_string();
        let event = kefu_domain::event::Event::Read {
            tenant_id: peer.tenant,
            chat_id,
            reader: peer.identity.clone(),
            peer: other.clone(),
            seq: now_read,
        };
        if let Err(e) = state
            .bus
            .publish(kefu_domain::event::topic::SIGNALS, &event)
            .await
        {
            tracing::debug!(error = %e, "read receipt not announced");
        }
        if let Ok(Some(app)) = kefu_engine::cache::im_app(&state.store, peer.tenant).await {
            let body = serde_json::json!({
                "CallbackCommand": callbacks::AFTER_MSG_REPORT,
                "Report_Account": peer.identity,
                "Peer_Account": other,
                "LastReadTime": state.clock.now() / 1000,
                "UnreadMsgNum": chat.last_seq - now_read,
            });
            callbacks::queue(state, &app, callbacks::AFTER_MSG_REPORT, body).await;
        }
    }
    true
}
