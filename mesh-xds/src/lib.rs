//! # mesh-xds
//!
//! Pilot's job as a library: an xDS server speaking ADS, State of the World and Delta, on
//! tonic, over a pluggable [`Generator`] (the default, [`MeshGenerator`], translates a
//! `mesh_core` snapshot for each proxy). See `docs/mesh-xds.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mesh_core::model::{MeshOptions, Store};
//! use mesh_core::translate::sidecar::SidecarOptions;
//! use mesh_xds::{MeshGenerator, XdsServer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut store = Store::new(MeshOptions::default());
//! let generator = Arc::new(MeshGenerator::new(store.snapshot(), SidecarOptions::default()));
//! let server = XdsServer::new(generator.clone());
//! let serve = tonic::transport::Server::builder()
//!     .add_service(server.service())
//!     .serve("127.0.0.1:15010".parse()?);
//! // Later, on a config change (the store's change set says what to rebuild):
//! # let edited: Vec<mesh_core::api::Object> = Vec::new();
//! let changes = store.apply_all(edited);
//! generator.update(store.snapshot(), &changes);
//! server.push();
//! serve.await?;
//! # Ok(()) }
//! ```
//!
//! A [`DirectorySource`] turns a watched directory of manifests into snapshots; the
//! `control-plane` example in `examples/` puts it all together; [`client`] is the other end;
//! [`scope`] narrows a push to the proxies a change concerns.

#[doc = include_str!("../../docs/mesh-xds.md")]
pub mod guide {}

pub mod client;
pub mod generator;
pub mod scope;
pub mod sds;
pub mod server;
pub mod source;
pub mod status;
pub mod types;

pub use generator::{GenerateError, Generator, MeshGenerator, ProxyInfo, Resource};
pub use sds::{AgentSdsGenerator, SdsGenerator};
pub use server::{DEFAULT_PUSH_CONCURRENCY, PushFilter, Totals, XdsServer};
pub use source::{ConfigSource, Debounce, DirectorySource, FileError, SourceUpdate};
pub use status::{Histogram, ProxyStatus, SyncStatus, TypeStatus};
