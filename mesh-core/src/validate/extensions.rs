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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::test_support::{check, expect};

    fn wasm(spec: &str) -> String {
        format!(
            "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: w, namespace: foo}}\nspec:\n{spec}"
        )
    }

    const SHA: &str = "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b";

    #[test]
    fn wasm_plugin_table() {
        let rows: Vec<(&str, String, Option<&str>)> = vec![
            ("empty", wasm("  {}\n"), Some("url field needs to be set")),
            (
                "wrong scheme",
                wasm("  url: ftp://test.com/test\n"),
                Some("url contains unsupported scheme: ftp"),
            ),
            ("valid http", wasm("  url: http://test.com/test\n"), None),
            (
                "valid https",
                wasm("  url: https://test.com/test.wasm\n"),
                None,
            ),
            (
                "valid file",
                wasm("  url: file:///opt/filters/openid.wasm\n"),
                None,
            ),
            (
                "valid http w/ sha",
                wasm(&format!("  url: http://test.com/test\n  sha256: {SHA}\n")),
                None,
            ),
            (
                "short sha",
                wasm("  url: http://test.com/test\n  sha256: 01ba47\n"),
                Some("sha256 field must be 64 characters long"),
            ),
            (
                "invalid sha",
                wasm("  url: http://test.com/test\n  sha256: test\n"),
                Some("sha256 field must be 64 characters long"),
            ),
            (
                "invalid sha characters",
                wasm(&format!(
                    "  url: http://test.com/test\n  sha256: {}\n",
                    SHA.replacen('b', "B", 1)
                )),
                Some("sha256 field must match [a-f0-9]{64} pattern"),
            ),
            ("valid oci", wasm("  url: oci://test.com/test\n"), None),
            ("valid oci no scheme", wasm("  url: test.com/test\n"), None),
            // Go reads `registry:5000/...` as the scheme `registry`, so Istio rejects it too.
            (
                "registry with port and no scheme",
                wasm("  url: \"registry:5000/ns/plugin:v1\"\n"),
                Some("unsupported scheme: registry"),
            ),
            ("bare name", wasm("  url: test\n"), None),
            (
                "unparseable url",
                wasm("  url: \"#%blah$#@\"\n"),
                Some("failed to parse url"),
            ),
            (
                "bad escape",
                wasm("  url: \"http://test.com/%zz\"\n"),
                Some("failed to parse url"),
            ),
            (
                "fake scheme",
                wasm("  url: \"fake://example.com\"\n"),
                Some("unsupported scheme: fake"),
            ),
            (
                "invalid vm config - invalid env name",
                wasm(
                    "  url: test.com/test\n  vmConfig:\n    env: [{name: \"\", valueFrom: HOST}]\n",
                ),
                Some("spec.vmConfig.env invalid"),
            ),
            (
                "invalid vm config - duplicate env",
                wasm(
                    "  url: test.com/test\n  vmConfig:\n    env: [{name: ENV1, value: VAL1}, {name: ENV1, value: VAL1}]\n",
                ),
                Some("duplicate env"),
            ),
            (
                "env value with HOST",
                wasm(
                    "  url: test.com/test\n  vmConfig:\n    env: [{name: a, valueFrom: HOST, value: v}]\n",
                ),
                Some("value may only be set when valueFrom is INLINE"),
            ),
            (
                "env name too long",
                wasm(&format!(
                    "  url: test.com/test\n  vmConfig:\n    env: [{{name: {}}}]\n",
                    "a".repeat(257)
                )),
                Some("env.name field must be less than 255 characters long"),
            ),
            (
                "env ok",
                wasm(
                    "  url: test.com/test\n  vmConfig:\n    env: [{name: a, valueFrom: HOST}, {name: b, valueFrom: INLINE, value: v}, {name: c, value: v}]\n",
                ),
                None,
            ),
            (
                "target-ref-good",
                wasm(
                    "  url: http://test.com/test\n  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo}\n",
                ),
                None,
            ),
            (
                "target-ref-good-service",
                wasm(
                    "  url: http://test.com/test\n  targetRef: {group: \"\", kind: Service, name: foo}\n",
                ),
                None,
            ),
            (
                "target-ref-non-empty-namespace",
                wasm(
                    "  url: http://test.com/test\n  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo, namespace: bar}\n",
                ),
                Some("targetRef namespace must not be set"),
            ),
            (
                "target-ref-empty-name",
                wasm(
                    "  url: http://test.com/test\n  targetRef: {group: gateway.networking.k8s.io, kind: Gateway}\n",
                ),
                Some("targetRef name must be set"),
            ),
            (
                "target-ref-wrong-group",
                wasm(
                    "  url: http://test.com/test\n  targetRef: {group: wrong-group, kind: Gateway, name: foo}\n",
                ),
                Some("but was wrong-group/Gateway"),
            ),
            (
                "target-ref-wrong-kind",
                wasm(
                    "  url: http://test.com/test\n  targetRef: {group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}\n",
                ),
                Some("but was gateway.networking.k8s.io/wrong-kind"),
            ),
            (
                "target-ref-and-selector-cannot-both-be-set",
                wasm(
                    "  url: http://test.com/test\n  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo}\n  selector: {matchLabels: {app: httpbin}}\n",
                ),
                Some("only one of targetRefs or workloadSelector can be set"),
            ),
            (
                "selector wildcard",
                wasm("  url: http://test\n  selector: {matchLabels: {istio: \"bar*\"}}\n"),
                Some("wildcard is not supported in selector"),
            ),
            (
                "port out of range (too low)",
                wasm("  url: http://test\n  match: [{ports: [{number: 0}]}]\n"),
                Some("spec.Match[0].Ports[0] is out of range: 0"),
            ),
            (
                "port out of range (too high)",
                wasm(
                    "  url: http://test\n  match: [{mode: CLIENT}, {ports: [{number: 80}, {number: 65536}]}]\n",
                ),
                Some("spec.Match[1].Ports[1] is out of range: 65536"),
            ),
            (
                "duplicate port",
                wasm("  url: http://test\n  match: [{ports: [{number: 80}, {number: 80}]}]\n"),
                Some("Duplicate value"),
            ),
            (
                "valid match with port",
                wasm("  url: http://test\n  match: [{mode: CLIENT, ports: [{number: 8080}]}]\n"),
                None,
            ),
            (
                "empty imagePullSecret",
                wasm("  url: http://test\n  imagePullSecret: \"\"\n"),
                Some("imagePullSecret in body should be at least 1 chars long"),
            ),
            (
                "long imagePullSecret",
                wasm(&format!(
                    "  url: http://test\n  imagePullSecret: {}\n",
                    "s".repeat(254)
                )),
                Some("imagePullSecret field must be less than 253 characters long"),
            ),
            (
                "empty pluginName",
                wasm("  url: http://test\n  pluginName: \"\"\n"),
                Some("pluginName in body should be at least 1 chars long"),
            ),
            (
                "plugin name too long",
                wasm(&format!(
                    "  url: test.com/test\n  pluginName: {}\n",
                    "p".repeat(257)
                )),
                Some("pluginName field must be less than 255 characters long"),
            ),
            (
                "full",
                wasm(&format!(
                    "  selector: {{matchLabels: {{istio: ingressgateway}}}}\n  url: file:///opt/filters/openid.wasm\n  sha256: {SHA}\n  phase: AUTHN\n  priority: 10\n  failStrategy: FAIL_RELOAD\n  type: NETWORK\n  imagePullPolicy: Always\n  pluginConfig: {{openid_server: authn}}\n"
                )),
                None,
            ),
        ];
        for (name, yaml, needle) in &rows {
            expect(name, yaml, *needle);
        }
        let r = check(&wasm(
            "  url: test\n  vmConfig:\n    env: [{name: a}, {name: a}]\n",
        ));
        assert_eq!(r.errors[0].path.to_string(), "spec.vmConfig.env[1].name");
        let r = check(&wasm(
            "  url: http://test\n  match: [{ports: [{number: 0}]}]\n",
        ));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.match[0].ports[0].number"
        );
    }

    #[test]
    fn urls() {
        for (u, ok) in [
            ("http://test.com/test", true),
            ("test.com/test", true),
            ("oci://ghcr.io/a/b:1", true),
            ("ghcr.io/a/b@sha256:abc", true),
            ("ftp://a/b", false),
            ("#%blah$#@", false),
            ("", false),
        ] {
            assert_eq!(plugin_url(u).is_ok(), ok, "{u}: {:?}", plugin_url(u));
        }
    }
}
