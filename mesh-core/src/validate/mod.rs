//! The rules istiod's validating webhook applies, with the same meaning of message.
//!
//! [`validate`] checks one object and returns a [`Report`]: errors (istiod would reject the
//! object) and warnings (istiod admits it and returns the warning to `kubectl`), each with the
//! path of the field it is about. Rules come from Istio's webhook (`pkg/config/validation`) and
//! from the CEL rules and OpenAPI constraints of the CRD schemas, since the API server applies
//! both before an object reaches istiod.
//!
//! ```
//! use mesh_core::{load, validate};
//!
//! let yaml = r#"
//! apiVersion: networking.istio.io/v1
//! kind: DestinationRule
//! metadata: {name: reviews, namespace: default}
//! spec:
//!   host: reviews
//!   subsets:
//!   - name: v1
//!     labels: {version: v1}
//!   - name: v1
//!     labels: {version: v2}
//! "#;
//! let objects = load::from_str(yaml, "dr.yaml")?;
//! let report = validate::validate(&objects[0].object);
//! assert!(!report.is_ok());
//! assert_eq!(report.errors[0].path.to_string(), "spec.subsets[1].name");
//! # Ok::<(), load::LoadErrors>(())
//! ```

pub(crate) mod common;
mod destination_rule;
mod envoy_filter;
mod extensions;
mod gateway;
mod metadata;
mod proxy_config;
mod security;
mod service_entry;
mod sidecar;
mod telemetry;
mod virtual_service;
mod workload_entry;

use std::fmt;

use serde::Serialize;

use crate::api::Object;
use crate::path::{FieldPath, Segment};

/// One finding: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Path of the field, from the object root (`spec.http[0].timeout`).
    pub path: FieldPath,
    /// What is wrong, in the words Istio uses.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_root() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The result of validating one object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Reasons istiod would reject the object.
    pub errors: Vec<Issue>,
    /// Warnings istiod would return while admitting the object.
    pub warnings: Vec<Issue>,
}

impl Report {
    /// True when there is no error (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Whether some error's message contains `needle` (for tests and tools).
    pub fn has_error(&self, needle: &str) -> bool {
        self.errors.iter().any(|e| e.message.contains(needle))
    }

    /// Whether some warning's message contains `needle`.
    pub fn has_warning(&self, needle: &str) -> bool {
        self.warnings.iter().any(|e| e.message.contains(needle))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

/// Validates one object. Untyped and Kubernetes objects get no findings: their schemas belong
/// to the API server, not to Istio.
pub fn validate(object: &Object) -> Report {
    let mut cx = Ctx::new();
    if let Some(kind) = object.kind().filter(|k| k.is_istio()) {
        metadata::validate(kind, object.metadata(), &mut cx);
    }
    match object {
        Object::VirtualService(o) => virtual_service::validate(o, &mut cx),
        Object::DestinationRule(o) => destination_rule::validate(o, &mut cx),
        Object::Gateway(o) => gateway::validate(o, &mut cx),
        Object::ServiceEntry(o) => service_entry::validate(o, &mut cx),
        Object::Sidecar(o) => sidecar::validate(o, &mut cx),
        Object::WorkloadEntry(o) => workload_entry::validate_entry(o, &mut cx),
        Object::WorkloadGroup(o) => workload_entry::validate_group(o, &mut cx),
        Object::EnvoyFilter(o) => envoy_filter::validate(o, &mut cx),
        Object::ProxyConfig(o) => proxy_config::validate(o, &mut cx),
        Object::AuthorizationPolicy(o) => security::authorization_policy(o, &mut cx),
        Object::PeerAuthentication(o) => security::peer_authentication(o, &mut cx),
        Object::RequestAuthentication(o) => security::request_authentication(o, &mut cx),
        Object::Telemetry(o) => telemetry::validate(o, &mut cx),
        Object::WasmPlugin(o) => extensions::validate(o, &mut cx),
        _ => {}
    }
    cx.report
}

/// The validation context: the current field path and the report being filled.
///
/// Rules descend with [`Ctx::field`] / [`Ctx::index`] / [`Ctx::key`] and report with
/// [`Ctx::error`] / [`Ctx::warn`] at the current path.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    path: FieldPath,
    pub(crate) report: Report,
}

#[allow(dead_code)]
impl Ctx {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Runs `f` one field deeper.
    pub(crate) fn field<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(Segment::Key(name.to_string()));
        let r = f(self);
        self.path.pop();
        r
    }

    /// Runs `f` at a list element.
    pub(crate) fn index<R>(&mut self, i: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(Segment::Index(i));
        let r = f(self);
        self.path.pop();
        r
    }

    /// Runs `f` at a map entry.
    pub(crate) fn key<R>(&mut self, k: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.field(k, f)
    }

    /// Runs `f` for each element of a list, at its index.
    pub(crate) fn each<T>(&mut self, name: &str, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.field(name, |cx| {
            for (i, item) in items.iter().enumerate() {
                cx.index(i, |cx| f(cx, item));
            }
        });
    }

    /// The current path.
    pub(crate) fn path(&self) -> &FieldPath {
        &self.path
    }

    /// An error at the current path.
    pub(crate) fn error(&mut self, message: impl Into<String>) {
        self.report.errors.push(Issue {
            path: self.path.clone(),
            message: message.into(),
        });
    }

    /// An error at a child field of the current path.
    pub(crate) fn error_at(&mut self, field: &str, message: impl Into<String>) {
        self.field(field, |cx| cx.error(message));
    }

    /// A warning at the current path.
    pub(crate) fn warn(&mut self, message: impl Into<String>) {
        self.report.warnings.push(Issue {
            path: self.path.clone(),
            message: message.into(),
        });
    }

    /// A warning at a child field of the current path.
    pub(crate) fn warn_at(&mut self, field: &str, message: impl Into<String>) {
        self.field(field, |cx| cx.warn(message));
    }

    /// Reports `Err(message)` as an error at the current path.
    pub(crate) fn check(&mut self, result: Result<(), String>) {
        if let Err(m) = result {
            self.error(m);
        }
    }

    /// Reports `Err(message)` as an error at a child field.
    pub(crate) fn check_at(&mut self, field: &str, result: Result<(), String>) {
        if let Err(m) = result {
            self.error_at(field, m);
        }
    }

    /// Number of errors so far (to tell whether a sub-check added any).
    pub(crate) fn error_count(&self) -> usize {
        self.report.errors.len()
    }
}

#[cfg(test)]
pub(crate) mod test_support;
