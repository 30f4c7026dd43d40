//! Project commands: `cargo xtask run | test | openapi [--check] | fences`.
//!
//! Kept in Rust so that they work wherever cargo does, with no shell or make required.

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const USAGE: &str = "usage: cargo xtask <command>

  run [--release]     build and run Kefu on the embedded default with the demo tenant
  test                run every test (PostgreSQL and Redis too when they answer locally),
                      then the front ends' checks and the browser tests (Chromium)
  openapi [--check]   regenerate openapi/openapi.json, or check it is current
  fences              check that crates depend only in the allowed direction
  bench gateway [--seconds N] [--only persisted,rest,history,typing,idle] [--shapes sqlite,postgres]
                      build release binaries and measure the gateway: Kefu pinned to core 0,
                      the load generator to core 1; prints each figure beside its target
  bench engine [--seconds N] [--trials N]
                      the conversation engine on PostgreSQL: ask-to-console latency at 100
                      conversations/s over 500 agents, and N (10,000) racing asks and ends
                      checked for double assignment
  bench moderation [--words N] [--messages N]
                      sensitive words: compile N (10,000) words and check messages against
                      them, beside a loop of `contains` for scale
  bench reports       every work report through the API on 1,000,000 messages and 100,000
                      sessions, on PostgreSQL (the target, < 2 s) and SQLite";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("run") => run(rest.contains(&"--release")),
        Some("test") => test(),
        Some("openapi") => openapi(rest.contains(&"--check")),
        Some("fences") => fences(),
        Some("bench") if rest.first() == Some(&"gateway") => bench("gateway", &rest[1..]),
        Some("bench") if rest.first() == Some(&"engine") => bench("engine", &rest[1..]),
        Some("bench") if rest.first() == Some(&"moderation") => bench("moderation", &rest[1..]),
        Some("bench") if rest.first() == Some(&"reports") => bench("reports", &rest[1..]),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn status(mut cmd: Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let st = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !st.success() {
        bail!("{shown} failed ({st})");
    }
    Ok(())
}

fn run(release: bool) -> Result<()> {
    // Release builds embed the consoles, so they are built first.
    build_web()?;
    let mut cmd = cargo();
    cmd.args(["run", "--package", "kefu"]);
    if release {
        cmd.arg("--release");
    }
    cmd.args(["--", "serve", "--demo"]);
    status(cmd)
}

fn bench(which: &str, args: &[&str]) -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--release", "--package", "kefu-bench"]);
    // The moderation benchmark runs in-process; the others drive a Kefu server.
    if which != "moderation" {
        build.args(["--package", "kefu"]);
    }
    status(build)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("release");
    let mut cmd = Command::new("taskset");
    cmd.current_dir(root()).arg("-c").arg("1");
    cmd.arg(target.join("kefu-bench"))
        .arg(which)
        .arg("--kefu")
        .arg(target.join("kefu"));
    let postgres = std::env::var("KEFU_TEST_DATABASE_URL").ok().or_else(|| {
        answers("127.0.0.1:5432").then(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
    });
    match postgres {
        Some(url) => {
            cmd.arg("--postgres").arg(url);
        }
        None => eprintln!("xtask: no PostgreSQL answers; the benchmark runs on SQLite only"),
    }
    cmd.args(args);
    status(cmd)
}

fn answers(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

fn test() -> Result<()> {
    fences()?;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--all-targets"]);
    // Use the machine's PostgreSQL and Redis when they are there and nothing else was named.
    if std::env::var_os("KEFU_TEST_DATABASE_URL").is_none() && answers("127.0.0.1:5432") {
        cmd.env(
            "KEFU_TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        );
    }
    if std::env::var_os("KEFU_TEST_REDIS_URL").is_none() && answers("127.0.0.1:6379") {
        cmd.env("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    }
    for var in ["KEFU_TEST_DATABASE_URL", "KEFU_TEST_REDIS_URL"] {
        let set =
            cmd.get_envs().any(|(k, v)| k == var && v.is_some()) || std::env::var_os(var).is_some();
        eprintln!(
            "xtask: {var} {}",
            if set {
                "set: that backend is tested"
            } else {
                "not set: that backend is skipped"
            }
        );
    }
    let (passed, failed, skipped) = run_and_tally(cmd)?;
    // The front ends: type checks, lint and unit tests, then the browser tests against the
    // debug binary the cargo tests just built.
    build_web()?;
    status(npm(&["run", "check"]))?;
    let browser = std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    let (b_passed, b_failed, b_skipped) = if Path::new(&browser).exists() {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        let mut e2e = npm(&["run", "e2e"]);
        e2e.env("E2E_KEFU_BIN", target.join("debug").join("kefu"))
            .env("CHROMIUM", &browser);
        node_tally(e2e)?
    } else {
        eprintln!(
            "xtask: no Chromium at {} (apt-get install chromium, or set CHROMIUM): the browser tests are skipped",
            Path::new(&browser).display()
        );
        (0, 0, 1)
    };
    println!(
        "all tests: {} passed, {} failed, {} skipped (cargo {passed}/{failed}/{skipped}, browser {b_passed}/{b_failed}/{b_skipped})",
        passed + b_passed,
        failed + b_failed,
        skipped + b_skipped
    );
    Ok(())
}

fn npm(args: &[&str]) -> Command {
    let mut c = Command::new("npm");
    c.current_dir(root()).args(args);
    c
}

/// Installs the front ends' packages when `package-lock.json` changed since the last
/// install, then builds every app (the binary serves their `dist/` folders).
fn build_web() -> Result<()> {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lock = modified(root().join("package-lock.json"));
    let installed = modified(root().join("node_modules/.package-lock.json"));
    if installed.is_none() || lock > installed {
        status(npm(&["ci", "--no-audit", "--no-fund"]))
            .context("installing the front ends' packages needs Node.js 20.19 or later with npm")?;
    }
    status(npm(&["run", "build"]))
}

/// Runs a `node --test` suite, passing its output through, and reads its pass, fail and
/// skip counts.
fn node_tally(mut cmd: Command) -> Result<(u64, u64, u64)> {
    use std::io::{BufRead, BufReader, Write};
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().context("starting the browser tests")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (mut passed, mut failed, mut skipped) = (0u64, 0u64, 0u64);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        let _ = std::io::stdout().flush();
        let mut words = line.split_whitespace();
        if words.next() != Some("#") {
            continue;
        }
        let (Some(label), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let n: u64 = n.parse().unwrap_or(0);
        match label {
            "pass" => passed += n,
            "fail" | "cancelled" => failed += n,
            "skipped" | "todo" => skipped += n,
            _ => {}
        }
    }
    let st = child.wait()?;
    if !st.success() || failed > 0 {
        bail!("the browser tests failed ({st})");
    }
    if passed == 0 {
        bail!("no browser test ran");
    }
    Ok((passed, failed, skipped))
}

/// Runs `cargo test`, passing its output through, and ends with one line that adds up every
/// harness's `test result:` line, so the total is read in one place.
fn run_and_tally(mut cmd: Command) -> Result<(u64, u64, u64)> {
    use std::io::{BufRead, BufReader, Write};
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().context("starting cargo test")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        let _ = std::io::stdout().flush();
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(label), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let n: u64 = n.parse().unwrap_or(0);
                match label {
                    "passed" => passed += n,
                    "failed" => failed += n,
                    "ignored" => ignored += n,
                    _ => {}
                }
            }
        }
    }
    let st = child.wait()?;
    println!("tests: {passed} passed, {failed} failed, {ignored} skipped");
    if !st.success() {
        bail!("cargo test failed ({st})");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok((passed, failed, ignored))
}

fn openapi(check: bool) -> Result<()> {
    let out = cargo()
        .args(["run", "--quiet", "--package", "kefu", "--", "openapi"])
        .output()
        .context("running kefu openapi")?;
    if !out.status.success() {
        bail!(
            "kefu openapi failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = root().join("openapi/openapi.json");
    let generated = String::from_utf8(out.stdout)?;
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            bail!(
                "openapi/openapi.json differs from what the code produces: run `cargo xtask openapi` and commit it"
            );
        }
        eprintln!("openapi/openapi.json is current");
    } else {
        std::fs::write(&path, generated)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Which crates each library crate must never depend on, directly or not. The domain is
/// pure; storage knows nothing of HTTP or Redis; the bus knows nothing of SQL or HTTP.
const FENCES: &[(&str, &[&str])] = &[
    (
        "kefu-domain",
        &["sqlx", "poem", "redis", "tokio", "kefu-store", "kefu-bus"],
    ),
    (
        "kefu-store",
        &["poem", "poem-openapi", "redis", "kefu-bus", "kefu-auth"],
    ),
    ("kefu-bus", &["sqlx", "poem", "kefu-store"]),
    ("kefu-mail", &["sqlx", "poem", "redis", "kefu-store"]),
    ("kefu-auth", &["poem", "poem-openapi"]),
    (
        "kefu-usersig",
        &["sqlx", "poem", "redis", "tokio", "kefu-store"],
    ),
    ("kefu-gateway", &["poem-openapi", "kefu-tenant-api"]),
    (
        "kefu-orders",
        &["sqlx", "redis", "poem-openapi", "kefu-store", "kefu-engine"],
    ),
    (
        "kefu-engine",
        &["poem", "poem-openapi", "kefu-auth", "kefu-gateway"],
    ),
];

fn fences() -> Result<()> {
    let mut broken = Vec::new();
    for (krate, banned) in FENCES {
        let out = cargo()
            .args([
                "tree",
                "--edges",
                "normal",
                "--prefix",
                "none",
                "--format",
                "{p}",
                "--package",
                krate,
            ])
            .output()
            .context("running cargo tree")?;
        if !out.status.success() {
            bail!(
                "cargo tree -p {krate} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&out.stdout);
        for dep in *banned {
            if tree
                .lines()
                .any(|l| l.split_whitespace().next() == Some(dep))
            {
                broken.push(format!("{krate} depends on {dep}"));
            }
        }
    }
    if !broken.is_empty() {
        bail!("dependency fences broken:\n  {}", broken.join("\n  "));
    }
    eprintln!("dependency fences hold ({} crates checked)", FENCES.len());
    Ok(())
}
