//! The workload side (istio-agent's job): keep a certificate for one identity from the CA API,
//! renewing at a fraction of its lifetime (half by default) with jitter, retrying with
//! exponential backoff while the CA is away, and keeping the last good certificate meanwhile.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::grpc::create_certificate;
use crate::spiffe::SpiffeId;

/// A certificate the manager holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadCert {
    /// Leaf, intermediates, root (PEM).
    pub chain: Vec<String>,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
    /// When it was received.
    pub received: SystemTime,
    /// How long it was asked to last.
    pub ttl: Duration,
}

/// How the manager renews and retries.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ManagerOptions {
    /// Lifetime asked for (Istio: 24 h).
    pub ttl: Duration,
    /// Renew when this fraction of the lifetime has passed (0.5).
    pub renew_fraction: f64,
    /// Renewal jitter, a fraction of the renewal delay (0.1: up to 10% earlier).
    pub jitter: f64,
    /// First retry delay (100 ms), doubled per failure up to `max_backoff` (30 s).
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            ttl: Duration::from_secs(24 * 3600),
            renew_fraction: 0.5,
            jitter: 0.1,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A running manager: its latest certificate, or none before the first one arrives.
#[derive(Debug)]
pub struct CertManager {
    current: watch::Receiver<Option<WorkloadCert>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CertManager {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A random fraction in [0, 1).
fn random_fraction() -> f64 {
    let mut b = [0u8; 8];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

impl CertManager {
    /// Starts managing `id`'s certificate from the CA at `endpoint` (`http://host:port`),
    /// authenticating with the bearer token `token()` returns (read anew for every request,
    /// as projected tokens rotate). Call within a tokio runtime.
    pub fn spawn(
        endpoint: String,
        token: Arc<dyn Fn() -> String + Send + Sync>,
        id: SpiffeId,
        options: ManagerOptions,
    ) -> CertManager {
        let (tx, current) = watch::channel(None);
        let task = tokio::spawn(async move {
            let mut backoff = options.initial_backoff;
            loop {
                match Self::fetch(&endpoint, &token(), &id, options.ttl).await {
                    Ok(cert) => {
                        let _ = tx.send(Some(cert));
                        backoff = options.initial_backoff;
                        let delay = options.ttl.mul_f64(options.renew_fraction);
                        let delay = delay.mul_f64(1.0 - options.jitter * random_fraction());
                        tokio::time::sleep(delay).await;
                    }
                    Err(e) => {
                        tracing::warn!(identity = %id, error = %e, retry_in = ?backoff, "certificate request failed; keeping the last good one");
                        // Full jitter over the current backoff, at least a tenth of it.
                        let wait = backoff.mul_f64(0.1 + 0.9 * random_fraction());
                        tokio::time::sleep(wait).await;
                        backoff = (backoff * 2).min(options.max_backoff);
                    }
                }
            }
        });
        CertManager { current, task }
    }

    async fn fetch(
        endpoint: &str,
        token: &str,
        id: &SpiffeId,
        ttl: Duration,
    ) -> Result<WorkloadCert, String> {
        let (key, csr) = crate::ca::workload_csr(id).map_err(|e| e.to_string())?;
        let channel = tonic::transport::Channel::from_shared(endpoint.to_string())
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .map_err(|e| format!("connecting to {endpoint}: {e}"))?;
        let chain = create_certificate(channel, token, &csr, ttl)
            .await
            .map_err(|s| format!("{}: {}", s.code(), s.message()))?;
        Ok(WorkloadCert {
            chain,
            key_pem: key.serialize_pem(),
            received: SystemTime::now(),
            ttl,
        })
    }

    /// The latest certificate.
    pub fn current(&self) -> Option<WorkloadCert> {
        self.current.borrow().clone()
    }

    /// A receiver that sees every new certificate (to serve it over SDS, for one).
    pub fn subscribe(&self) -> watch::Receiver<Option<WorkloadCert>> {
        self.current.clone()
    }
}
