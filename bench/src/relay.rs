//! The ceiling: a minimal tokio WebSocket relay. A client sends `{"type":"auth","identifier":…}`
//! and then `{"type":"typing","to":…}` frames; each is parsed and passed to the named client as
//! `{"type":"typing","from":…}` through a bounded queue and a writer task: the least any relay
//! must do, with none of Kefu's authentication, bus or presence.

use anyhow::Result;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Peers = Arc<Mutex<HashMap<String, mpsc::Sender<Message>>>>;

pub async fn serve(listen: &str) -> Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let peers: Peers = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let peers = peers.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let config = WebSocketConfig::default().read_buffer_size(4096);
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            let Some(Ok(Message::Text(first))) = stream.next().await else {
                return;
            };
            let me = serde_json::from_str::<Value>(&first)
                .ok()
                .and_then(|v| v["identifier"].as_str().map(str::to_string))
                .unwrap_or_default();
            let (tx, mut rx) = mpsc::channel::<Message>(256);
            peers.lock().unwrap().insert(me.clone(), tx);
            let _ = sink
                .send(Message::text(json!({"type": "auth_ok"}).to_string()))
                .await;
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(Message::Text(t))) = stream.next().await {
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                let Some(to) = v["to"].as_str() else { continue };
                let target = peers.lock().unwrap().get(to).cloned();
                if let Some(target) = target {
                    let out = json!({"type": "typing", "from": me}).to_string();
                    let _ = target.try_send(Message::text(out));
                }
            }
            peers.lock().unwrap().remove(&me);
        });
    }
}
