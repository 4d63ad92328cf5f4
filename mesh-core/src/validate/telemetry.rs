//! Telemetry (`ValidateTelemetry`), plus the CRD schema's rules.

use super::{Ctx, common};
use crate::api::Telemetry;
use crate::api::telemetry::{
    AccessLogging, CustomTagType, MetricMatch, Metrics, ProviderRef, TagOperation, Tracing,
};

pub(super) fn validate(obj: &Telemetry, cx: &mut Ctx) {
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        common::policy_attachment(
            cx,
            "selector",
            spec.selector.as_ref(),
            spec.target_ref.as_ref(),
            &spec.target_refs,
        );
        cx.each("metrics", &spec.metrics, metrics);
        if spec.tracing.len() > 1 {
            cx.warn_at("tracing", "multiple tracing is not currently supported");
        }
        cx.each("tracing", &spec.tracing, tracing);
        cx.each("accessLogging", &spec.access_logging, access_logging);
    });
}

/// `validateTelemetryProviders`.
fn providers(cx: &mut Ctx, providers: &[ProviderRef]) {
    cx.each("providers", providers, |cx, p| {
        if p.name.is_empty() {
            cx.error_at("name", "providers.name may not be empty");
        }
    });
}

fn access_logging(cx: &mut Ctx, l: &AccessLogging) {
    if let Some(f) = &l.filter {
        cx.field("filter", |cx| {
            cx.check_at("expression", cel_syntax(&f.expression))
        });
    }
    providers(cx, &l.providers);
}

fn tracing(cx: &mut Ctx, t: &Tracing) {
    if t.providers.len() > 1 {
        cx.warn_at("providers", "multiple providers is not currently supported");
    }
    providers(cx, &t.providers);
    if let Some(p) = t.random_sampling_percentage
        && !(0.0..=100.0).contains(&p)
    {
        cx.error_at(
            "randomSamplingPercentage",
            "randomSamplingPercentage must be in range [0.0, 100.0]",
        );
    }
    cx.field("customTags", |cx| {
        for (name, tag) in &t.custom_tags {
            cx.key(name, |cx| {
                if name.is_empty() {
                    cx.error("tag name may not be empty");
                }
                match &tag.tag {
                    Some(CustomTagType::Literal(l)) if l.value.is_empty() => {
                        cx.error("literal tag value may not be empty")
                    }
                    Some(CustomTagType::Header(h)) if h.name.is_empty() => {
                        cx.error("header tag name may not be empty")
                    }
                    Some(CustomTagType::Environment(e)) if e.name.is_empty() => {
                        cx.error("environment tag name may not be empty")
                    }
                    // Not checked by the webhook; the CRD requires a non-empty value.
                    Some(CustomTagType::Formatter(f)) if f.value.is_empty() => {
                        cx.error("formatter tag value may not be empty")
                    }
                    _ => {}
                }
            });
        }
    });
}

fn metrics(cx: &mut Ctx, m: &Metrics) {
    providers(cx, &m.providers);
    if let Some(d) = &m.reporting_interval {
        cx.check_at("reportingInterval", common::duration_at_least_1ms(d));
    }
    cx.each("overrides", &m.overrides, |cx, o| {
        cx.field("tagOverrides", |cx| {
            for (name, to) in &o.tag_overrides {
                cx.key(name, |cx| {
                    if name.is_empty() {
                        cx.warn("tagOverrides.name may not be empty");
                    }
                    match to.operation {
                        TagOperation::Upsert if to.value.is_empty() => {
                            cx.error("tagOverrides.value must be set when operation is UPSERT")
                        }
                        TagOperation::Remove if !to.value.is_empty() => {
                            cx.error("tagOverrides.value may only be set when operation is UPSERT")
                        }
                        _ => {}
                    }
                });
            }
        });
        if let Some(MetricMatch::CustomMetric(c)) =
            o.r#match.as_ref().and_then(|m| m.metric.as_ref())
            && c.is_empty()
        {
            cx.field("match", |cx| {
                cx.error_at("customMetric", "customMetric may not be empty")
            });
        }
    });
}

/// A syntax check of an access log filter standing in for istiod's CEL parse: the expression
/// must be non-empty, with closed string literals, balanced brackets, and no operator at either
/// end.
fn cel_syntax(expr: &str) -> Result<(), String> {
    let err = |why: &str| Err(format!("must be a valid CEL expression, {why}"));
    let trimmed = expr.trim();
    if trimmed.is_empty() {
        return err("Syntax error: mismatched input '<EOF>'");
    }
    let mut stack = Vec::new();
    let mut chars = trimmed.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                let mut closed = false;
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return err("Syntax error: token recognition error (unterminated string)");
                }
            }
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return err(&format!("Syntax error: extraneous input '{c}'"));
                }
            }
            _ => {}
        }
    }
    if let Some(open) = stack.pop() {
        return err(&format!(
            "Syntax error: missing closing bracket for '{open}'"
        ));
    }
    let first = trimmed.chars().next().unwrap_or(' ');
    let last = trimmed.chars().last().unwrap_or(' ');
    if "&|=<>*/%?:,+".contains(first) {
        return err(&format!("Syntax error: extraneous input '{first}'"));
    }
    if "&|=<>*/%?:,+-!.".contains(last) {
        return err("Syntax error: mismatched input '<EOF>'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::test_support::{check, expect};

    fn tel(spec: &str) -> String {
        format!(
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: t, namespace: foo}}\nspec:\n{spec}"
        )
    }

    const ENV_TAG: &str =
        "  tracing:\n  - customTags:\n      clusterID: {environment: {name: FOO}}\n";

    #[test]
    fn telemetry_table() {
        let rows: Vec<(&str, String, Option<&str>)> = vec![
            ("empty", tel("  {}\n"), None),
            (
                "multiple providers",
                tel("  tracing:\n  - providers: [{name: foo}, {name: bar}]\n"),
                None,
            ),
            ("multiple tracers", tel("  tracing: [{}, {}]\n"), None),
            (
                "bad randomSamplingPercentage",
                tel("  tracing: [{randomSamplingPercentage: 101}]\n"),
                Some("randomSamplingPercentage must be in range [0.0, 100.0]"),
            ),
            (
                "negative randomSamplingPercentage",
                tel("  tracing: [{randomSamplingPercentage: -1}]\n"),
                Some("randomSamplingPercentage"),
            ),
            (
                "zero randomSamplingPercentage",
                tel("  tracing: [{randomSamplingPercentage: 0}]\n"),
                None,
            ),
            ("tracing with a good custom tag", tel(ENV_TAG), None),
            (
                "empty literal tag",
                tel("  tracing:\n  - customTags: {a: {literal: {value: \"\"}}}\n"),
                Some("literal tag value may not be empty"),
            ),
            (
                "empty header tag",
                tel("  tracing:\n  - customTags: {a: {header: {name: \"\"}}}\n"),
                Some("header tag name may not be empty"),
            ),
            (
                "empty environment tag",
                tel(
                    "  tracing:\n  - customTags: {a: {environment: {name: \"\", defaultValue: x}}}\n",
                ),
                Some("environment tag name may not be empty"),
            ),
            (
                "empty formatter tag",
                tel("  tracing:\n  - customTags: {a: {formatter: {}}}\n"),
                Some("formatter tag value may not be empty"),
            ),
            (
                "empty tag name",
                tel("  tracing:\n  - customTags: {\"\": {literal: {value: v}}}\n"),
                Some("tag name may not be empty"),
            ),
            (
                "tag without type",
                tel("  tracing:\n  - customTags: {a: {}}\n"),
                None,
            ),
            (
                "bad tracing provider",
                tel("  tracing: [{providers: [{name: \"\"}]}]\n"),
                Some("providers.name may not be empty"),
            ),
            (
                "bad metrics provider",
                tel("  metrics: [{providers: [{name: \"\"}]}]\n"),
                Some("providers.name may not be empty"),
            ),
            (
                "bad access log provider",
                tel("  accessLogging: [{providers: [{}]}]\n"),
                Some("providers.name may not be empty"),
            ),
            (
                "bad metrics operation",
                tel(
                    "  metrics:\n  - overrides:\n    - tagOverrides: {my-tag: {operation: UPSERT, value: \"\"}}\n",
                ),
                Some("must be set when operation is UPSERT"),
            ),
            (
                "unset operation without value",
                tel("  metrics:\n  - overrides:\n    - tagOverrides: {my-tag: {}}\n"),
                Some("tagOverrides.value must be set when operation is UPSERT"),
            ),
            (
                "good metrics operation",
                tel(
                    "  metrics:\n  - overrides:\n    - tagOverrides: {my-tag: {operation: UPSERT, value: some-cel-expression}}\n",
                ),
                None,
            ),
            (
                "remove with value",
                tel(
                    "  metrics:\n  - overrides:\n    - tagOverrides: {my-tag: {operation: REMOVE, value: x}}\n",
                ),
                Some("tagOverrides.value may only be set when operation is UPSERT"),
            ),
            (
                "remove without value",
                tel(
                    "  metrics:\n  - overrides:\n    - tagOverrides: {my-tag: {operation: REMOVE}}\n",
                ),
                None,
            ),
            (
                "empty custom metric",
                tel("  metrics:\n  - overrides:\n    - match: {customMetric: \"\"}\n"),
                Some("customMetric may not be empty"),
            ),
            (
                "istio metric",
                tel(
                    "  metrics:\n  - overrides:\n    - match: {metric: REQUEST_COUNT, mode: SERVER}\n      disabled: true\n",
                ),
                None,
            ),
            (
                "reporting interval ok",
                tel("  metrics: [{reportingInterval: 15s}]\n"),
                None,
            ),
            (
                "reporting interval too small",
                tel("  metrics: [{reportingInterval: 0s}]\n"),
                Some("must be a valid duration greater than 1ms"),
            ),
            (
                "multi-accessloggings",
                tel(
                    "  accessLogging:\n  - providers: [{name: envoy}]\n  - providers: [{name: otel}]\n",
                ),
                None,
            ),
            (
                "multi-accesslogging-providers",
                tel("  accessLogging:\n  - providers: [{name: envoy}, {name: otel}]\n"),
                None,
            ),
            (
                "filter ok",
                tel("  accessLogging: [{filter: {expression: \"response.code >= 400\"}}]\n"),
                None,
            ),
            (
                "filter with call",
                tel(
                    "  accessLogging: [{filter: {expression: \"connection.mtls && request.url_path.contains('v1beta3')\"}}]\n",
                ),
                None,
            ),
            (
                "filter bare attribute",
                tel("  accessLogging: [{filter: {expression: response.code}}]\n"),
                None,
            ),
            (
                "filter syntax error",
                tel("  accessLogging: [{filter: {expression: \")++++\"}}]\n"),
                Some("must be a valid CEL expression"),
            ),
            (
                "filter unclosed paren",
                tel("  accessLogging: [{filter: {expression: \"(a && b\"}}]\n"),
                Some("must be a valid CEL expression"),
            ),
            (
                "filter unterminated string",
                tel("  accessLogging: [{filter: {expression: \"a == 'x\"}}]\n"),
                Some("must be a valid CEL expression"),
            ),
            (
                "filter dangling operator",
                tel("  accessLogging: [{filter: {expression: \"a &&\"}}]\n"),
                Some("must be a valid CEL expression"),
            ),
            (
                "filter empty",
                tel("  accessLogging: [{filter: {}}]\n"),
                Some("must be a valid CEL expression"),
            ),
            (
                "good targetRef",
                tel(&format!(
                    "{ENV_TAG}  targetRef: {{group: gateway.networking.k8s.io, kind: Gateway, name: foo}}\n"
                )),
                None,
            ),
            (
                "bad targetRef - empty name",
                tel(&format!(
                    "{ENV_TAG}  targetRef: {{group: gateway.networking.k8s.io, kind: Gateway}}\n"
                )),
                Some("targetRef name must be set"),
            ),
            (
                "bad targetRef - non-empty namespace",
                tel(&format!(
                    "{ENV_TAG}  targetRef: {{group: gateway.networking.k8s.io, kind: Gateway, name: foo, namespace: bar}}\n"
                )),
                Some("targetRef namespace must not be set"),
            ),
            (
                "bad targetRef - wrong group",
                tel(&format!(
                    "{ENV_TAG}  targetRef: {{group: wrong-group, kind: Gateway, name: foo}}\n"
                )),
                Some(
                    "targetRef must be to one of [core/Service networking.istio.io/ServiceEntry gateway.networking.k8s.io/Gateway gateway.networking.k8s.io/GatewayClass] but was wrong-group/Gateway",
                ),
            ),
            (
                "bad targetRef - wrong kind",
                tel(&format!(
                    "{ENV_TAG}  targetRef: {{group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}}\n"
                )),
                Some("but was gateway.networking.k8s.io/wrong-kind"),
            ),
            (
                "targetRef and selector cannot both be set",
                tel(&format!(
                    "{ENV_TAG}  targetRef: {{group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}}\n  selector: {{matchLabels: {{app: httpbin}}}}\n"
                )),
                Some("only one of targetRefs or workloadSelector can be set"),
            ),
            (
                "targetRefs good",
                tel(
                    "  targetRefs: [{kind: Service, name: a}, {group: networking.istio.io, kind: ServiceEntry, name: b}]\n",
                ),
                None,
            ),
        ];
        for (name, yaml, needle) in &rows {
            expect(name, yaml, *needle);
        }
    }

    #[test]
    fn telemetry_warnings_and_paths() {
        let r = check(&tel(
            "  tracing:\n  - providers: [{name: foo}, {name: bar}]\n",
        ));
        assert!(
            r.has_warning("multiple providers is not currently supported"),
            "{r}"
        );
        let r = check(&tel("  tracing: [{}, {}]\n"));
        assert!(
            r.has_warning("multiple tracing is not currently supported"),
            "{r}"
        );
        let r = check(&tel(
            "  metrics:\n  - overrides:\n    - tagOverrides: {\"\": {value: x}}\n",
        ));
        assert!(
            r.is_ok() && r.has_warning("tagOverrides.name may not be empty"),
            "{r}"
        );
        let r = check(&tel(
            "  metrics:\n  - overrides:\n    - {}\n    - tagOverrides: {t: {operation: REMOVE, value: x}}\n",
        ));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.metrics[0].overrides[1].tagOverrides.t"
        );
        let r = check(&tel("  tracing: [{randomSamplingPercentage: 101}]\n"));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.tracing[0].randomSamplingPercentage"
        );
    }

    #[test]
    fn cel_syntax_check() {
        for (e, ok) in [
            ("response.code >= 400", true),
            ("a[\"b\"] == 'c)'", true),
            ("!(a || b)", true),
            ("{'a': 1}.a == 1", true),
            (")++++", false),
            ("(a", false),
            ("a]", false),
            ("a ==", false),
            ("&& a", false),
            ("   ", false),
        ] {
            assert_eq!(cel_syntax(e).is_ok(), ok, "{e}");
        }
    }
}
