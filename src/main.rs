//! `kefu`: the customer-service server and its tools.

mod config;
mod demo;
mod serve;
mod web;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kefu",
    version,
    about = "Kefu: multi-tenant online customer service"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default). Settings: docs/configuration.md.
    Serve {
        /// Also create the `demo` tenant with sample accounts (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Print the OpenAPI document of the tenant API.
    Openapi,
    /// Generate a UserSig (Tencent IM TLS sig v2) for an identifier.
    Usersig {
        /// The app's SDKAppID.
        #[arg(long)]
        sdkappid: u64,
        /// The app's secret key (GET /api/v1/im-app as a super admin). Also read from
        /// KEFU_USERSIG_KEY, which keeps it out of the process list.
        #[arg(long, env = "KEFU_USERSIG_KEY", hide_env_values = true)]
        key: String,
        /// The UserID to sign for, e.g. `administrator` for REST calls.
        #[arg(long)]
        identifier: String,
        /// Seconds of validity.
        #[arg(long, default_value_t = 86400 * 180)]
        expire: i64,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Usersig {
            sdkappid,
            key,
            identifier,
            expire,
        } => {
            if identifier.is_empty() || expire <= 0 {
                eprintln!("kefu: --identifier must not be empty and --expire must be positive");
                return std::process::ExitCode::from(2);
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            println!(
                "{}",
                kefu_usersig::generate(sdkappid, &key, &identifier, expire, now)
            );
            std::process::ExitCode::SUCCESS
        }
        Command::Openapi => {
            println!("{}", kefu_tenant_api::spec_json());
            std::process::ExitCode::SUCCESS
        }
        Command::Serve { demo } => {
            let config = match config::Config::load() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("kefu: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            serve::init_tracing(&config);
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            match runtime.block_on(serve::run(config, demo)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    // One line that names the setting to fix.
                    tracing::error!("{e}");
                    eprintln!("kefu: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
