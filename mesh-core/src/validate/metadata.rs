//! Rules on metadata that istiod applies to every Istio kind (`validateMetadata`).

use super::{Ctx, common};
use crate::api::{Kind, ObjectMeta};

const DRY_RUN: &str = "istio.io/dry-run";
const ALWAYS_REJECT: &str = "istio.io/alwaysReject";
const INTERNAL_PARENT_NAMESPACE: &str = "internal.istio.io/parent-namespace";
const INTERNAL_PARENT_NAMES: &str = "internal.istio.io/parents";

pub(super) fn validate(kind: Kind, meta: &ObjectMeta, cx: &mut Ctx) {
    cx.field("metadata", |cx| {
        if meta.name.is_empty() && meta.generate_name.is_empty() {
            cx.error_at("name", "name is required");
        } else if !meta.name.is_empty() && !is_dns1123_subdomain(&meta.name) {
            cx.error_at(
                "name",
                format!("invalid name {:?}: must be a lowercase RFC 1123 subdomain", meta.name),
            );
        }
        if !meta.namespace.is_empty() && !common::is_k8s_dns1123_label(&meta.namespace) {
            cx.error_at("namespace", format!("invalid namespace {:?}: must be a DNS-1123 label", meta.namespace));
        }
        cx.field("labels", |cx| {
            for (k, v) in &meta.labels {
                cx.key(k, |cx| {
                    cx.check(common::label_key(k));
                    cx.check(common::label_value(v));
                });
            }
        });
        cx.field("annotations", |cx| {
            if let Some(val) = meta.annotations.get(DRY_RUN) {
                cx.key(DRY_RUN, |cx| {
                    if kind != Kind::AuthorizationPolicy {
                        cx.error(format!(
                            "{}/{} has unsupported annotation {DRY_RUN}, please remove the annotation",
                            meta.namespace, meta.name
                        ));
                    } else if !matches!(val.as_str(), "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False") {
                        cx.error(format!(
                            "{}/{} has annotation {DRY_RUN} with invalid value ({val}): strconv.ParseBool: parsing {val:?}: invalid syntax",
                            meta.namespace, meta.name
                        ));
                    }
                });
            }
            if meta.annotations.contains_key(ALWAYS_REJECT) {
                cx.key(ALWAYS_REJECT, |cx| cx.error(format!("{ALWAYS_REJECT:?} annotation found, rejecting")));
            }
            for internal in [INTERNAL_PARENT_NAMESPACE, INTERNAL_PARENT_NAMES] {
                if meta.annotations.contains_key(internal) {
                    cx.key(internal, |cx| {
                        cx.error(format!("{internal:?} annotation found, this may not be set by users"))
                    });
                }
            }
        });
    });
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(common::is_k8s_dns1123_label)
}
