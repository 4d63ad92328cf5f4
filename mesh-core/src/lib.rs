//! # mesh-core
//!
//! Istio's configuration as Rust: typed objects for every Istio kind ([`api`]), a loader for
//! YAML and JSON streams whose errors name the file, document, line and field ([`load`]),
//! and the rules istiod's validating webhook applies ([`validate`]).
//!
//! This crate does no I/O: it reads `&str` and `&[u8]` handed to it and never touches files,
//! sockets or a runtime, so it runs the same in a controller, a proxy or a unit test.
//!
//! ```
//! use mesh_core::{load, validate};
//!
//! let yaml = r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: { name: reviews, namespace: default }
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - route:
//!     - destination: { host: reviews, subset: v1 }
//! "#;
//! let objects = load::from_str(yaml, "reviews.yaml")?;
//! let report = validate::validate(&objects[0].object);
//! assert!(report.is_ok(), "{report}");
//! # Ok::<(), mesh_core::load::LoadErrors>(())
//! ```

pub mod analyze;
pub mod api;
pub mod dump;
pub mod load;
pub mod model;
pub mod path;
pub mod simulate;
pub mod translate;
pub mod validate;

pub use path::FieldPath;

#[doc = include_str!("../../docs/mesh-core.md")]
pub mod guide {}
