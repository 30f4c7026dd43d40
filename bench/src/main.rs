//! `kefu-bench`: the load generator and the reference relay behind `cargo xtask bench gateway`.
//!
//! ```text
//! kefu-bench relay --listen 127.0.0.1:9000
//! kefu-bench gateway --kefu target/release/kefu [--postgres URL] [--seconds 10]
//!                    [--only persisted,rest,history,typing,idle] [--shapes sqlite,postgres]
//! kefu-bench engine --kefu target/release/kefu --postgres URL [--seconds 10] [--trials 10000]
//! kefu-bench moderation [--words 10000] [--messages 200000]
//! kefu-bench reports --kefu target/release/kefu [--postgres URL]
//! ```
//!
//! `gateway` starts Kefu (and the relay) pinned to core 0 with `taskset`, while it runs
//! itself on core 1 (xtask starts it that way), measures each figure of the gateway issue and
//! prints them beside their targets. Figures are printed, never asserted: a slower machine
//! gives smaller numbers, not a failing build.

mod engine;
mod load;
mod moderation;
mod relay;
mod reports;
mod server;

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Under `taskset -c N` tokio sees one CPU and starts one worker.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("relay") => {
            let listen = flag(&args, "--listen").context("relay needs --listen ADDR")?;
            rt.block_on(relay::serve(&listen))
        }
        Some("gateway") => {
            let kefu = PathBuf::from(flag(&args, "--kefu").context("gateway needs --kefu PATH")?);
            let seconds = flag(&args, "--seconds")
                .map(|s| s.parse::<u64>())
                .transpose()?
                .unwrap_or(10);
            let postgres = flag(&args, "--postgres");
            let list = |name: &str| -> Vec<String> {
                flag(&args, name)
                    .map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
                    .unwrap_or_default()
            };
            let only = list("--only");
            if let Some(bad) = only.iter().find(|p| !server::PARTS.contains(&p.as_str())) {
                bail!(
                    "--only takes some of {}, not `{bad}`",
                    server::PARTS.join(",")
                );
            }
            let shapes = list("--shapes");
            if let Some(bad) = shapes
                .iter()
                .find(|s| !["sqlite", "postgres"].contains(&s.as_str()))
            {
                bail!("--shapes takes sqlite and/or postgres, not `{bad}`");
            }
            rt.block_on(server::run_all(
                &kefu,
                postgres.as_deref(),
                seconds,
                &only,
                &shapes,
            ))
        }
        Some("engine") => {
            let kefu = PathBuf::from(flag(&args, "--kefu").context("engine needs --kefu PATH")?);
            let postgres = flag(&args, "--postgres")
                .context("the engine benchmark runs on PostgreSQL: give --postgres URL")?;
            let seconds = flag(&args, "--seconds")
                .map(|s| s.parse::<u64>())
                .transpose()?
                .unwrap_or(10);
            let trials = flag(&args, "--trials")
                .map(|s| s.parse::<usize>())
                .transpose()?
                .unwrap_or(10_000);
            rt.block_on(engine::run(&kefu, &postgres, seconds, trials))
        }
        Some("reports") => {
            let kefu = PathBuf::from(flag(&args, "--kefu").context("reports needs --kefu PATH")?);
            let postgres = flag(&args, "--postgres");
            let keep = args.iter().any(|a| a == "--keep");
            rt.block_on(reports::run(&kefu, postgres.as_deref(), keep))
        }
        Some("moderation") => {
            let words = flag(&args, "--words")
                .map(|s| s.parse::<usize>())
                .transpose()?
                .unwrap_or(10_000);
            let messages = flag(&args, "--messages")
                .map(|s| s.parse::<usize>())
                .transpose()?
                .unwrap_or(200_000);
            moderation::run(words, messages);
            Ok(())
        }
        _ => bail!(
            "usage: kefu-bench relay --listen ADDR | gateway --kefu PATH [--postgres URL] [--seconds N] [--only PARTS] [--shapes sqlite,postgres] | engine --kefu PATH --postgres URL [--seconds N] [--trials N] | moderation [--words N] [--messages N] | reports --kefu PATH [--postgres URL] [--keep]"
        ),
    }
}
