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
        super::security::target_refs_max(cx, &spec.target_refs);
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
    if let Some(p) = t.random_sampling_percentage {
        if !(0.0..=100.0).contains(&p) {
            cx.error_at(
                "randomSamplingPercentage",
                "randomSamplingPercentage must be in range [0.0, 100.0]",
            );
        }
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
        {
            if c.is_empty() {
                cx.field("match", |cx| {
                    cx.error_at("customMetric", "customMetric may not be empty")
                });
            }
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
