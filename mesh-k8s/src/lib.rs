//! # mesh-k8s
//!
//! Kubernetes integration (not yet written): CRD types and schemas for the Istio API, kube-rs
//! watchers feeding the `mesh-core` model, validating and injecting admission webhooks, and
//! TokenReview authentication for the CA.
