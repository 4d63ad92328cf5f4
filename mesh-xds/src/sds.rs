//! SDS for workloads, serving the secrets Istio's config names: `default` (the certificate
//! chain and key) and `ROOTCA` (the trust bundle). Two generators:
//!
//! - [`SdsGenerator`], beside the CA: each proxy gets a certificate for its own SPIFFE
//!   identity from a `mesh_ca::Ca`, renewed when a fraction of its lifetime has passed (half
//!   by default, as istio-agent does): call `XdsServer::push` periodically (or on
//!   [`SdsGenerator::next_renewal`]) and proxies get the new ones.
//! - [`AgentSdsGenerator`], beside the workload (istio-agent's SDS server): one workload's
//!   certificate as a `mesh_ca::CertManager` keeps it, fetched from the CA over its gRPC API;
//!   [`AgentSdsGenerator::push_on_renewal`] pushes each new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, TlsCertificate, secret,
};
use mesh_ca::{Ca, CertManager, SpiffeId, WorkloadCert, workload_csr};

use crate::generator::{GenerateError, Generator, ProxyInfo, Resource};
use crate::types;

fn inline(pem: &str) -> Option<DataSource> {
    Some(DataSource {
        specifier: Some(data_source::Specifier::InlineBytes(pem.as_bytes().to_vec())),
        ..Default::default()
    })
}

struct Held {
    key_pem: String,
    chain: Vec<String>,
    issued_at: SystemTime,
    ttl: Duration,
}

/// Serves `default` and `ROOTCA` secrets, certificates from `ca`.
pub struct SdsGenerator {
    ca: Arc<Mutex<Ca>>,
    ttl: Duration,
    renew_fraction: f64,
    held: Mutex<HashMap<SpiffeId, Held>>,
}

impl std::fmt::Debug for SdsGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdsGenerator")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SdsGenerator {
    /// Certificates of lifetime `ttl`, renewed at half of it.
    pub fn new(ca: Arc<Mutex<Ca>>, ttl: Duration) -> SdsGenerator {
        SdsGenerator {
            ca,
            ttl,
            renew_fraction: 0.5,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The proxy's identity: its namespace and service account (`default` without one).
    pub fn identity(&self, proxy: &ProxyInfo) -> Result<SpiffeId, GenerateError> {
        let p = proxy.proxy.as_ref().ok_or_else(|| {
            GenerateError::UnknownProxy(proxy.node.id.clone(), "no Istio node id".into())
        })?;
        let td = self.lock_ca().options().trust_domain.clone();
        let sa = p.metadata.service_account.as_deref().unwrap_or("default");
        SpiffeId::istio(&td, &p.config_namespace, sa)
            .map_err(|e| GenerateError::UnknownProxy(proxy.node.id.clone(), e.to_string()))
    }

    /// When the soonest held certificate is due for renewal.
    pub fn next_renewal(&self) -> Option<SystemTime> {
        self.lock_held()
            .values()
            .map(|h| h.issued_at + h.ttl.mul_f64(self.renew_fraction))
            .min()
    }

    fn lock_ca(&self) -> std::sync::MutexGuard<'_, Ca> {
        self.ca
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, HashMap<SpiffeId, Held>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current certificate chain and key for `id`, signing a new one when none is held or
    /// the held one is past the renewal point.
    fn certificate(&self, id: &SpiffeId) -> Result<(String, String), GenerateError> {
        let now = SystemTime::now();
        let mut held = self.lock_held();
        let fresh = held.get(id).is_some_and(|h| {
            now.duration_since(h.issued_at)
                .is_ok_and(|age| age < h.ttl.mul_f64(self.renew_fraction))
        });
        if !fresh {
            let fail = |e: String| GenerateError::UnknownProxy(id.to_string(), e);
            let (key, csr) = workload_csr(id).map_err(|e| fail(e.to_string()))?;
            let issued = self
                .lock_ca()
                .sign_csr(&csr, id, self.ttl)
                .map_err(|e| fail(e.to_string()))?;
            held.insert(
                id.clone(),
                Held {
                    key_pem: key.serialize_pem(),
                    chain: issued.chain,
                    issued_at: now,
                    ttl: self.ttl,
                },
            );
        }
        let h = held
            .get(id)
            .ok_or_else(|| GenerateError::UnknownProxy(id.to_string(), "no certificate".into()))?;
        // The chain without the root: roots travel in ROOTCA.
        let n = h.chain.len().saturating_sub(1).max(1);
        Ok((h.chain[..n].concat(), h.key_pem.clone()))
    }
}

impl Generator for SdsGenerator {
    fn generate(&self, proxy: &ProxyInfo, type_url: &str) -> Result<Vec<Resource>, GenerateError> {
        if type_url != types::SECRET {
            return Ok(Vec::new());
        }
        let id = self.identity(proxy)?;
        let (chain, key) = self.certificate(&id)?;
        let roots = self.lock_ca().bundle().pem();
        Ok(secrets(&chain, &key, &roots))
    }
}

/// Serves the certificate a [`CertManager`] holds to the workload's own proxy, as
/// istio-agent's SDS server does: `default` is the chain without its last element and the
/// key, `ROOTCA` the last element (the CA's whole trust bundle, as `mesh_ca`'s and istiod's
/// CA answer it). Nothing is served before the first certificate arrives (the proxy waits).
#[derive(Debug, Clone)]
pub struct AgentSdsGenerator {
    current: tokio::sync::watch::Receiver<Option<WorkloadCert>>,
}

impl AgentSdsGenerator {
    /// Serves what `manager` holds, now and after every renewal.
    pub fn new(manager: &CertManager) -> AgentSdsGenerator {
        AgentSdsGenerator {
            current: manager.subscribe(),
        }
    }

    /// Pushes to `server`'s proxies each time the manager gets a new certificate, until the
    /// manager stops. Call within a tokio runtime.
    pub fn push_on_renewal(&self, server: crate::XdsServer) -> tokio::task::JoinHandle<()> {
        let mut rx = self.current.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                server.push();
            }
        })
    }
}

impl Generator for AgentSdsGenerator {
    fn generate(&self, _proxy: &ProxyInfo, type_url: &str) -> Result<Vec<Resource>, GenerateError> {
        if type_url != types::SECRET {
            return Ok(Vec::new());
        }
        let current = self.current.borrow().clone();
        let Some(cert) = current else {
            return Ok(Vec::new());
        };
        let Some((roots, chain)) = cert.chain.split_last() else {
            return Ok(Vec::new());
        };
        Ok(secrets(&chain.concat(), &cert.key_pem, roots))
    }
}

/// `default` (chain and key) and `ROOTCA` (roots), inline.
fn secrets(chain: &str, key: &str, roots: &str) -> Vec<Resource> {
    let default = Secret {
        name: "default".into(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: inline(chain),
            private_key: inline(key),
            ..Default::default()
        })),
    };
    let root = Secret {
        name: "ROOTCA".into(),
        r#type: Some(secret::Type::ValidationContext(
            CertificateValidationContext {
                trusted_ca: inline(roots),
                ..Default::default()
            },
        )),
    };
    vec![
        Resource::new("default", mesh_core::dump::to_any(&default)),
        Resource::new("ROOTCA", mesh_core::dump::to_any(&root)),
    ]
}
