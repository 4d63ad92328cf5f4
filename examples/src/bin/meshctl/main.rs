//! `meshctl`: mesh-rs on the command line, in the spirit of `istioctl`.
//!
//! ```text
//! meshctl validate -f samples/bookinfo/networking/ -f extra.yaml [-o json] [--lenient]
//! meshctl proxy-config <listeners|routes|clusters|endpoints|all> --config DIR --pod NAME.NS [-o short|json|bootstrap]
//! meshctl proxy-status [--admin 127.0.0.1:15014] [-o json]
//! meshctl analyze -f DIR... [-o json] [--list-analyzers]
//! meshctl authz check --config DIR --pod NAME.NS [-v]
//! ```

mod analyze;
mod authz;
mod proxy_config;
mod proxy_status;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mesh-rs command-line tool.
#[derive(Parser, Debug)]
#[command(
    name = "meshctl",
    version,
    about = "Work with Istio configuration using mesh-rs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate Istio configuration files as istiod's webhook would.
    Validate(validate::Args),
    /// Analyze configuration files and report problems, like `istioctl analyze`.
    Analyze(analyze::Args),
    /// Authorization: which policies apply to a workload, like `istioctl x authz`.
    Authz(authz::Args),
    /// Print the Envoy configuration of a workload's sidecar, as istiod would send it.
    #[command(name = "proxy-config", alias = "pc")]
    ProxyConfig(proxy_config::Args),
    /// Print each proxy's sync status with a control plane, like `istioctl proxy-status`.
    #[command(name = "proxy-status", alias = "ps")]
    ProxyStatus(proxy_status::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Analyze(args) => analyze::run(&args),
        Command::Authz(args) => authz::run(&args),
        Command::ProxyConfig(args) => proxy_config::run(&args),
        Command::ProxyStatus(args) => proxy_status::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meshctl: {e:#}");
            ExitCode::from(2)
        }
    }
}
