//! Prints every event on a topic as one JSON line. For operators watching a production bus,
//! and for the test that proves separate processes receive the same event.
//!
//! Usage: `kefu-bus-tail <redis-url> <topic>`. Prints `subscribed` once listening.

use futures::StreamExt;
use std::io::Write;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(topic)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: kefu-bus-tail <redis-url> <topic>");
        std::process::exit(2);
    };
    let bus = match kefu_bus::RedisBus::connect(url).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut events = match kefu_bus::Bus::subscribe(&bus, topic).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("subscribed");
    let _ = std::io::stdout().flush();
    while let Some(event) = events.next().await {
        println!("{}", serde_json::to_string(&event).unwrap_or_default());
        let _ = std::io::stdout().flush();
    }
}
