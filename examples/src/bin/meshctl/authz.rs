//! `meshctl authz check`: which AuthorizationPolicies apply to a workload and what they became,
//! like `istioctl x authz check`, computed from manifests.

use std::collections::BTreeMap;

use anyhow::Result;
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_filter;
use mesh_core::model::{Proxy, ProxyType};
use mesh_core::translate::sidecar::SidecarTranslator;
use prost::Message;

/// Arguments of `meshctl authz`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// List the authorization policies that apply to a workload, as the proxy enforces them.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Directories or files of manifests.
    #[arg(long = "config", short = 'f', required = true, num_args = 1..)]
    config: Vec<String>,
    /// The workload: `NAME.NAMESPACE` or `deploy/NAME.NAMESPACE`.
    #[arg(long)]
    pod: String,
    /// Also print each RBAC policy (the rules as Envoy enforces them) as JSON.
    #[arg(short, long)]
    verbose: bool,
    /// Istio's mesh configuration (YAML): the extension providers CUSTOM policies name.
    #[arg(long)]
    mesh_config: Option<std::path::PathBuf>,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<std::process::ExitCode> {
    let Sub::Check(args) = &args.command;
    let snapshot = crate::proxy_config::load(&args.config)?;
    let workload = crate::proxy_config::find_workload(&snapshot, &args.pod)?;
    let proxy = Proxy::for_workload(
        workload,
        ProxyType::Sidecar,
        &snapshot.options().domain_suffix.clone(),
    );
    let options = crate::proxy_config::mesh_options(args.mesh_config.as_deref())?;
    let translator = SidecarTranslator::new(&snapshot, &proxy, &options);
    for w in translator.translate().warnings {
        eprintln!("meshctl: warning: {w}");
    }
    let (_, passthrough) = translator.inbound_ports();
    // (action, policy) -> RBAC policies (one per rule).
    let mut by_policy: BTreeMap<(String, String), Vec<(String, serde_json::Value)>> =
        BTreeMap::new();
    for f in passthrough
        .http_filters
        .iter()
        .filter(|f| f.name == "envoy.filters.http.rbac")
    {
        let Some(http_filter::ConfigType::TypedConfig(any)) = &f.config_type else {
            continue;
        };
        let rbac = HttpRbac::decode(any.value.as_slice())?;
        // CUSTOM: the shadow rules select the requests sent to the external service; the
        // rules of such a filter are CUSTOM policies in dry-run.
        let custom = rbac.shadow_rules_stat_prefix == "istio_ext_authz_";
        let shadow = rbac.shadow_rules.as_ref().map(|r| (r, true));
        for (rules, in_shadow) in rbac
            .rules
            .as_ref()
            .map(|r| (r, false))
            .into_iter()
            .chain(shadow)
        {
            let action = match rules.action {
                0 => "ALLOW",
                1 => "DENY",
                _ => "AUDIT",
            };
            for (key, policy) in &rules.policies {
                let action = if key.starts_with("istio-ext-authz") {
                    let provider = provider_of(key);
                    if key.ends_with("-deny-due-to-bad-CUSTOM-action") {
                        format!("CUSTOM ({provider} unusable: denies)")
                    } else if custom && !in_shadow {
                        format!("CUSTOM ({provider}, dry-run)")
                    } else {
                        format!("CUSTOM ({provider})")
                    }
                } else if in_shadow {
                    format!("{action} (dry-run)")
                } else {
                    action.to_string()
                };
                let name = policy_name(key);
                by_policy
                    .entry((action, name))
                    .or_default()
                    .push((key.clone(), mesh_core::dump::message_to_json(policy)?));
            }
        }
    }
    let mut rows = vec![vec![
        "ACTION".to_string(),
        "AuthorizationPolicy".into(),
        "RULES".into(),
    ]];
    for ((action, name), rules) in &by_policy {
        rows.push(vec![action.clone(), name.clone(), rules.len().to_string()]);
    }
    print!("{}", crate::proxy_config::tabulate(&rows, 3));
    if args.verbose {
        for rules in by_policy.values() {
            for (key, json) in rules {
                println!("{key}: {json}");
            }
        }
    }
    if by_policy.is_empty() {
        eprintln!(
            "no authorization policy applies to {}: every request is allowed",
            args.pod
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `istio-ext-authz-<provider>-ns[..]...` -> `<provider>`.
fn provider_of(key: &str) -> &str {
    key.strip_prefix("istio-ext-authz-")
        .and_then(|r| r.split("-ns[").next())
        .unwrap_or_default()
}

/// `ns[foo]-policy[httpbin]-rule[0]` -> `httpbin.foo`.
fn policy_name(key: &str) -> String {
    let part = |tag: &str| {
        key.split(&format!("{tag}["))
            .nth(1)
            .and_then(|r| r.split(']').next())
            .unwrap_or_default()
            .to_string()
    };
    let (ns, name) = (part("ns"), part("policy"));
    if name.is_empty() {
        key.to_string()
    } else {
        format!("{name}.{ns}")
    }
}
