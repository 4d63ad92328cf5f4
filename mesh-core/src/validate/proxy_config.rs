//! ProxyConfig: Istio's `ValidateProxyConfig`, plus the CRD schema's limits.

use super::Ctx;
use super::common;
use crate::api::ProxyConfig;

pub(super) fn validate(obj: &ProxyConfig, cx: &mut Ctx) {
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        common::workload_selector(cx, "selector", spec.selector.as_ref());
        if spec.concurrency.is_some_and(|c| c < 0) {
            cx.error_at(
                "concurrency",
                "concurrency must be greater than or equal to 0",
            );
        }
        cx.field("environmentVariables", |cx| {
            for (k, v) in &spec.environment_variables {
                if v.chars().count() > 2048 {
                    cx.error_at(k, "Too long: may not be more than 2048 bytes");
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::expect;

    fn pc(spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1beta1\nkind: ProxyConfig\nmetadata: {{name: foo, namespace: bar}}\nspec:\n{spec}"
        )
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("empty", "  {}", None),
            (
                "invalid concurrency",
                "  concurrency: -1",
                Some("concurrency must be greater than or equal to 0"),
            ),
            ("zero concurrency", "  concurrency: 0", None),
            (
                "full",
                "  concurrency: 1\n  selector: {matchLabels: {foo: bar}}\n  image: {imageType: foo}\n  environmentVariables: {foo: baz}",
                None,
            ),
            (
                "empty selector key",
                "  selector: {matchLabels: {'': bar}}",
                Some("empty key"),
            ),
            (
                "wildcard selector value",
                "  selector: {matchLabels: {app: '*'}}",
                Some("wildcard is not supported"),
            ),
            (
                "env var too long",
                &format!("  environmentVariables: {{A: {}}}", "x".repeat(2049)),
                Some("Too long"),
            ),
        ];
        for (name, spec, want) in cases {
            expect(name, &pc(spec), *want);
        }
    }

    #[test]
    fn empty_selector_warns_at_path() {
        let r = expect("empty selector", &pc("  selector: {matchLabels: {}}"), None);
        assert!(r.has_warning("workload selector specified without labels"));
        assert_eq!(r.warnings[0].path.to_string(), "spec.selector");
    }

    #[test]
    fn concurrency_error_path() {
        let r = expect("path", &pc("  concurrency: -3"), Some("concurrency"));
        assert_eq!(r.errors[0].path.to_string(), "spec.concurrency");
    }
}
