//! WasmPlugin (`ValidateWasmPlugin`), plus the CRD schema's rules.

use std::collections::BTreeSet;

use super::{Ctx, common, security};
use crate::api::WasmPlugin;
use crate::api::extensions::EnvValueSource;

pub(super) fn validate(obj: &WasmPlugin, cx: &mut Ctx) {
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        common::policy_attachment(
            cx,
            "selector",
            spec.selector.as_ref(),
            spec.target_ref.as_ref(),
            &spec.target_refs,
        );
        security::target_refs_max(cx, &spec.target_refs);
        cx.check_at("url", plugin_url(&spec.url));
        cx.check_at("sha256", sha256(&spec.sha256));
        if let Some(s) = &spec.image_pull_secret {
            cx.field("imagePullSecret", |cx| {
                if s.is_empty() {
                    cx.error("imagePullSecret in body should be at least 1 chars long");
                } else if s.len() > 253 {
                    cx.error("imagePullSecret field must be less than 253 characters long");
                }
            });
        }
        if let Some(n) = &spec.plugin_name {
            cx.field("pluginName", |cx| {
                if n.is_empty() {
                    cx.error("pluginName in body should be at least 1 chars long");
                } else if n.len() > 256 {
                    cx.error("pluginName field must be less than 255 characters long");
                }
            });
        }
        if let Some(vm) = &spec.vm_config {
            cx.field("vmConfig", |cx| {
                if vm.env.len() > 256 {
                    cx.error_at(
                        "env",
                        format!("Too many: {}: must have at most 256 items", vm.env.len()),
                    );
                }
                let mut seen = BTreeSet::new();
                cx.each("env", &vm.env, |cx, env| {
                    if env.name.is_empty() {
                        cx.error_at("name", "spec.vmConfig.env invalid");
                    } else if env.name.len() > 256 {
                        cx.error_at(
                            "name",
                            "env.name field must be less than 255 characters long",
                        );
                    }
                    if !seen.insert(env.name.clone()) {
                        cx.error_at("name", "duplicate env");
                    }
                    if env.value_from != EnvValueSource::Inline && !env.value.is_empty() {
                        cx.error_at("value", "value may only be set when valueFrom is INLINE");
                    }
                    if env.value.len() > 2048 {
                        cx.error_at("value", "Too long: may not be more than 2048 bytes");
                    }
                });
            });
        }
        let mut s = 0;
        cx.each("match", &spec.r#match, |cx, sel| {
            let mut seen = BTreeSet::new();
            let mut p = 0;
            cx.each("ports", &sel.ports, |cx, port| {
                if port.number == 0 || port.number > 65535 {
                    cx.error_at(
                        "number",
                        format!(
                            "spec.Match[{s}].Ports[{p}] is out of range: {}",
                            port.number
                        ),
                    );
                }
                if !seen.insert(port.number) {
                    cx.error_at("number", format!("Duplicate value: {}", port.number));
                }
                p += 1;
            });
            s += 1;
        });
    });
}

/// `validateWasmPluginURL`: parses (with `http://` prepended when needed) with scheme
/// `http`, `https`, `file`, `oci` or none.
fn plugin_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("url field needs to be set".into());
    }
    let parsed = match security::parse_url(url, true) {
        Ok(u) => u,
        Err(first) => security::parse_url(&format!("http://{url}"), true)
            .and_then(|u| security::parse_url(&format!("http://{url}"), false).map(|_| u))
            .map_err(|_| format!("failed to parse url: {first}"))?,
    };
    if !matches!(
        parsed.scheme.as_str(),
        "" | "file" | "http" | "https" | "oci"
    ) {
        return Err(format!(
            "url contains unsupported scheme: {}",
            parsed.scheme
        ));
    }
    Ok(())
}

/// `validateWasmPluginSHA`: empty, or 64 lowercase hex digits.
fn sha256(sha: &str) -> Result<(), String> {
    if sha.is_empty() {
        return Ok(());
    }
    if sha.len() != 64 {
        return Err("sha256 field must be 64 characters long".into());
    }
    if !sha.bytes().all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9')) {
        return Err("sha256 field must match [a-f0-9]{64} pattern".into());
    }
    Ok(())
}
