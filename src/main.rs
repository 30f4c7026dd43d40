//! `kefu`: the customer-service server and its tools.

mod config;
mod demo;
mod serve;

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
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
