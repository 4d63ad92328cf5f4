//! # mesh-ca
//!
//! Citadel's job as a library: SPIFFE identities ([`SpiffeId`]), a certificate authority
//! ([`Ca`]) with a generated root or Istio's `cacerts` plugged in, CSR signing that issues only
//! the caller's own identity with a capped lifetime, a [`TrustBundle`] with root rotation, and
//! chain verification. See `docs/mesh-ca.md`.
//!
//! ```
//! use std::time::Duration;
//! use mesh_ca::{Ca, CaOptions, SpiffeId, TrustDomain, workload_csr};
//!
//! let td = TrustDomain::new("cluster.local")?;
//! let ca = Ca::generate(CaOptions::new(td.clone()))?;
//! let me = SpiffeId::istio(&td, "shop", "web")?;
//! let (_key, csr) = workload_csr(&me)?;
//! let issued = ca.sign_csr(&csr, &me, Duration::from_secs(3600))?;
//! let id = ca.bundle().verify(&issued.chain[..issued.chain.len() - 1], time::OffsetDateTime::now_utc())?;
//! assert_eq!(id, me);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`grpc`] serves the Istio CA API (`CreateCertificate`) with pluggable authenticators.

mod ca;
pub mod grpc;
mod manager;
mod spiffe;
pub mod tls;

#[doc = include_str!("../../docs/mesh-ca.md")]
pub mod guide {}

pub use ca::{
    Ca, CaError, CaOptions, Issued, SignError, TrustBundle, VerifyError, split_pem, workload_csr,
};
pub use manager::{CertManager, ManagerOptions, WorkloadCert};
pub use spiffe::{SpiffeId, SpiffeIdError, TrustDomain};
