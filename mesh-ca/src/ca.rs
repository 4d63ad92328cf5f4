//! The certificate authority: a root (generated, or Istio's `cacerts` plugged in), CSR signing
//! that checks the caller's identity, key and TTL, a trust bundle with root rotation, and
//! chain verification.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ::time::OffsetDateTime;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use x509_parser::prelude::*;

use crate::spiffe::{SpiffeId, TrustDomain};

/// What the CA allows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaOptions {
    /// The trust domain of every identity it signs.
    pub trust_domain: TrustDomain,
    /// The lifetime of a workload certificate when the request asks for none (Istio: 24 h).
    pub default_ttl: Duration,
    /// The longest lifetime it grants (Istio's `MAX_WORKLOAD_CERT_TTL`, 90 days; here 24 h
    /// unless raised).
    pub max_ttl: Duration,
    /// The lifetime of a generated root (10 years).
    pub root_ttl: Duration,
    /// Other trust domains whose identities are this one's (Istio's `trustDomainAliases`):
    /// a caller authenticated as `spiffe://<alias>/ns/a/sa/b` may get a certificate for
    /// `spiffe://<trust_domain>/ns/a/sa/b`, as during a trust domain migration.
    pub trust_domain_aliases: Vec<TrustDomain>,
}

impl CaOptions {
    /// Defaults for `trust_domain`.
    pub fn new(trust_domain: TrustDomain) -> CaOptions {
        CaOptions {
            trust_domain,
            default_ttl: Duration::from_secs(24 * 3600),
            max_ttl: Duration::from_secs(24 * 3600),
            root_ttl: Duration::from_secs(10 * 365 * 24 * 3600),
            trust_domain_aliases: Vec::new(),
        }
    }
}

/// Why a CSR was not signed (nothing is issued).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// Not a PEM `CERTIFICATE REQUEST`, or not a valid PKCS#10 request.
    #[error("malformed CSR: {0}")]
    Malformed(String),
    /// The request's signature does not verify with its own key.
    #[error("the CSR's signature does not verify")]
    BadSignature,
    /// The request names no identity, or more than one, or a non-URI name.
    #[error("the CSR must carry exactly one URI SAN (the caller's SPIFFE ID); it has: {0}")]
    Identities(String),
    /// The requested identity is not the caller's.
    #[error("the CSR asks for {requested}, but the caller is {caller}")]
    NotCaller {
        /// What the CSR asks for.
        requested: String,
        /// Who is calling.
        caller: String,
    },
    /// Not ECDSA P-256/P-384 or RSA of at least 2048 bits.
    #[error("unsupported key: {0} (ECDSA P-256, P-384, or RSA of 2048 bits or more)")]
    UnsupportedKey(String),
    /// The requested lifetime is over the maximum.
    #[error("requested TTL {requested:?} is greater than the max allowed TTL {max:?}")]
    TtlTooLong {
        /// Asked for.
        requested: Duration,
        /// Allowed.
        max: Duration,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Why a CA could not be created or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A certificate or key is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// Roots trusted for the mesh: several during a rotation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustBundle {
    roots: Vec<String>,
}

/// Why a chain does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A certificate does not parse.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// Outside its validity period.
    #[error("certificate expired or not yet valid")]
    Expired,
    /// No root of the bundle signed the chain.
    #[error("the chain does not lead to a trusted root")]
    Untrusted,
    /// The leaf carries no SPIFFE ID.
    #[error("the certificate carries no SPIFFE ID")]
    NoIdentity,
}

pub(crate) fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    Ok(p.contents)
}

/// Splits concatenated PEM blocks.
pub fn split_pem(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN") {
            cur.clear();
        }
        cur.push_str(line);
        cur.push('\n');
        if line.starts_with("-----END") {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

impl TrustBundle {
    /// The roots, PEM.
    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    /// The roots concatenated, as `ROOTCA` / `root-cert.pem` carry them.
    pub fn pem(&self) -> String {
        self.roots.concat()
    }

    /// Verifies `chain` (leaf first, then intermediates) against the bundle at `now`, and
    /// returns the leaf's SPIFFE ID.
    pub fn verify(&self, chain: &[String], now: OffsetDateTime) -> Result<SpiffeId, VerifyError> {
        let ders: Vec<Vec<u8>> = chain
            .iter()
            .map(|p| pem_to_der(p).map_err(VerifyError::Malformed))
            .collect::<Result<_, _>>()?;
        self.verify_der(&ders, now)
    }

    /// As [`TrustBundle::verify`], for a chain of DER certificates (as TLS carries them).
    pub fn verify_der(
        &self,
        ders: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<SpiffeId, VerifyError> {
        let roots: Vec<Vec<u8>> = self
            .roots
            .iter()
            .filter_map(|p| pem_to_der(p).ok())
            .collect();
        let certs: Vec<X509Certificate<'_>> = ders
            .iter()
            .map(|d| {
                X509Certificate::from_der(d)
                    .map(|(_, c)| c)
                    .map_err(|e| VerifyError::Malformed(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let leaf = certs
            .first()
            .ok_or(VerifyError::Malformed("empty chain".into()))?;
        let t = ASN1Time::from(now);
        for c in &certs {
            if !c.validity().is_valid_at(t) {
                return Err(VerifyError::Expired);
            }
        }
        // Each certificate signed by the next; the last by a root (or being one).
        for w in certs.windows(2) {
            w[0].verify_signature(Some(w[1].public_key()))
                .map_err(|_| VerifyError::Untrusted)?;
        }
        let last = certs.last().ok_or(VerifyError::Untrusted)?;
        let trusted = roots.iter().any(|r| {
            X509Certificate::from_der(r).is_ok_and(|(_, root)| {
                root.validity().is_valid_at(t)
                    && (last.verify_signature(Some(root.public_key())).is_ok())
            })
        });
        if !trusted {
            return Err(VerifyError::Untrusted);
        }
        spiffe_of(leaf).ok_or(VerifyError::NoIdentity)
    }
}

/// The URI SAN of a certificate, as a SPIFFE ID.
fn spiffe_of(cert: &X509Certificate<'_>) -> Option<SpiffeId> {
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::URI(u) => u.parse().ok(),
        _ => None,
    })
}

/// A signed workload certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// Leaf, intermediates, root: Istio's `cert_chain`.
    pub chain: Vec<String>,
    /// When the leaf expires.
    pub not_after: OffsetDateTime,
}

/// The certificate authority.
pub struct Ca {
    options: CaOptions,
    /// The signing certificate (the root, or an intermediate) and its key.
    cert_pem: String,
    /// The signing certificate's name and key, parsed once.
    issuer: Issuer<'static, KeyPair>,
    /// Certificates above the signing one, up to the root.
    parents: Vec<String>,
    bundle: TrustBundle,
    /// A root added to the bundle that does not sign yet ([`Ca::add_root`]).
    pending: Option<(String, KeyPair)>,
    csr_count: AtomicU64,
    issued: AtomicU64,
    errors: AtomicU64,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("options", &self.options)
            .field("roots", &self.bundle.roots.len())
            .finish_non_exhaustive()
    }
}

fn issuer(cert_pem: &str, key: KeyPair) -> Result<Issuer<'static, KeyPair>, CaError> {
    Issuer::from_ca_cert_pem(cert_pem, key)
        .map_err(|e| CaError::Invalid(format!("the CA certificate: {e}")))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn new_root(options: &CaOptions) -> Result<(String, KeyPair), CaError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| CaError::Invalid(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, options.trust_domain.as_str());
    // A name of its own per root, so that verifiers tell rotated roots apart.
    let id = key
        .public_key_raw()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    dn.push(DnType::CommonName, format!("mesh-rs root {id:016x}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let start = now() - ::time::Duration::minutes(1);
    params.not_before = start;
    params.not_after = start + options.root_ttl;
    let cert = params
        .self_signed(&key)
        .map_err(|e| CaError::Invalid(e.to_string()))?;
    Ok((cert.pem(), key))
}

fn read(dir: &Path, name: &str) -> Result<String, CaError> {
    let p = dir.join(name);
    std::fs::read_to_string(&p).map_err(|source| CaError::Io {
        path: p.display().to_string(),
        source,
    })
}

fn write(dir: &Path, name: &str, text: &str, private: bool) -> Result<(), CaError> {
    let p = dir.join(name);
    let io = |source| CaError::Io {
        path: p.display().to_string(),
        source,
    };
    std::fs::write(&p, text).map_err(io)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

impl Ca {
    /// A CA with a new self-signed ECDSA P-256 root.
    pub fn generate(options: CaOptions) -> Result<Ca, CaError> {
        let (cert_pem, key) = new_root(&options)?;
        let issuer = issuer(&cert_pem, key)?;
        Ok(Ca {
            bundle: TrustBundle {
                roots: vec![cert_pem.clone()],
            },
            options,
            cert_pem,
            issuer,
            parents: Vec::new(),
            pending: None,
            csr_count: AtomicU64::new(0),
            issued: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    /// A CA from Istio's `cacerts` directory: `ca-cert.pem` (the signing certificate),
    /// `ca-key.pem` (its PKCS#8 key), `root-cert.pem` (the roots) and `cert-chain.pem` (the
    /// signing certificate's chain to the root).
    pub fn load(dir: &Path, options: CaOptions) -> Result<Ca, CaError> {
        let cert_pem = read(dir, "ca-cert.pem")?;
        let key_pem = read(dir, "ca-key.pem")?;
        let roots = split_pem(&read(dir, "root-cert.pem")?);
        let chain = read(dir, "cert-chain.pem").unwrap_or_default();
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| CaError::Invalid(format!("ca-key.pem: {e} (a PKCS#8 key is expected)")))?;
        // The key must be the certificate's.
        let der =
            pem_to_der(&cert_pem).map_err(|e| CaError::Invalid(format!("ca-cert.pem: {e}")))?;
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|e| CaError::Invalid(format!("ca-cert.pem: {e}")))?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CaError::Invalid(
                "ca-key.pem is not the key of ca-cert.pem".into(),
            ));
        }
        if roots.is_empty() {
            return Err(CaError::Invalid(
                "root-cert.pem holds no certificate".into(),
            ));
        }
        // cert-chain.pem starts with ca-cert itself; the parents are the rest.
        let parents: Vec<String> = split_pem(&chain)
            .into_iter()
            .filter(|c| c.trim() != cert_pem.trim())
            .collect();
        let issuer = issuer(&cert_pem, key)?;
        Ok(Ca {
            options,
            cert_pem,
            issuer,
            parents,
            bundle: TrustBundle { roots },
            pending: None,
            csr_count: AtomicU64::new(0),
            issued: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    /// Writes the CA as a `cacerts` directory (the key readable by the owner only), so that
    /// [`Ca::load`] restores it after a restart.
    pub fn save(&self, dir: &Path) -> Result<(), CaError> {
        std::fs::create_dir_all(dir).map_err(|source| CaError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        write(dir, "ca-key.pem", &self.issuer.key().serialize_pem(), true)?;
        write(dir, "ca-cert.pem", &self.cert_pem, false)?;
        write(dir, "root-cert.pem", &self.bundle.pem(), false)?;
        let mut chain = self.cert_pem.clone();
        chain.push_str(&self.parents.concat());
        write(dir, "cert-chain.pem", &chain, false)
    }

    /// The roots proxies must trust.
    pub fn bundle(&self) -> &TrustBundle {
        &self.bundle
    }

    /// The options.
    pub fn options(&self) -> &CaOptions {
        &self.options
    }

    /// Root rotation without downtime, step 1: a new root joins the bundle, trusted but not
    /// signing yet, so that every workload learns it (from SDS, or with its next certificate)
    /// before any peer presents a certificate it signed. Then [`Ca::activate_root`], then,
    /// once every certificate in use was renewed, [`Ca::retire_old_roots`]. A pending root
    /// lives in memory only: `save` after activating it.
    pub fn add_root(&mut self) -> Result<(), CaError> {
        let (cert_pem, key) = new_root(&self.options)?;
        self.bundle.roots.push(cert_pem.clone());
        self.pending = Some((cert_pem, key));
        Ok(())
    }

    /// Step 2: the root added by [`Ca::add_root`] signs from now on; the old roots stay
    /// trusted until [`Ca::retire_old_roots`].
    pub fn activate_root(&mut self) -> Result<(), CaError> {
        let (cert_pem, key) = self
            .pending
            .take()
            .ok_or_else(|| CaError::Invalid("no root was added to activate".into()))?;
        self.issuer = issuer(&cert_pem, key)?;
        self.cert_pem = cert_pem;
        self.parents.clear();
        Ok(())
    }

    /// Steps 1 and 2 at once: a new root signs from now on; the old roots stay trusted until
    /// [`Ca::retire_old_roots`], so certificates from both verify during the overlap. Peers
    /// that learn roots only with their own renewals need [`Ca::add_root`] first.
    pub fn rotate_root(&mut self) -> Result<(), CaError> {
        self.add_root()?;
        self.activate_root()
    }

    /// Ends a rotation: only the current signing root stays trusted.
    pub fn retire_old_roots(&mut self) {
        let current = self
            .parents
            .last()
            .cloned()
            .unwrap_or_else(|| self.cert_pem.clone());
        let pending = self.pending.as_ref().map(|(p, _)| p.trim().to_string());
        self.bundle
            .roots
            .retain(|r| r.trim() == current.trim() || pending.as_deref() == Some(r.trim()));
    }

    /// Signs a workload's CSR for `caller` (the identity the caller authenticated as), for
    /// `ttl` (zero: the default). Checks, in order: PEM and PKCS#10 form, the request's
    /// signature, exactly one URI SAN equal to the caller, the key type and size, the TTL cap.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        caller: &SpiffeId,
        ttl: Duration,
    ) -> Result<Issued, SignError> {
        self.csr_count.fetch_add(1, Ordering::Relaxed);
        let out = self.sign(csr_pem, caller, ttl);
        match &out {
            Ok(_) => self.issued.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.errors.fetch_add(1, Ordering::Relaxed),
        };
        out
    }

    fn sign(&self, csr_pem: &str, caller: &SpiffeId, ttl: Duration) -> Result<Issued, SignError> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(csr_pem.as_bytes())
            .map_err(|e| SignError::Malformed(e.to_string()))?;
        if pem.label != "CERTIFICATE REQUEST" {
            return Err(SignError::Malformed(format!(
                "a {} block, not a CERTIFICATE REQUEST",
                pem.label
            )));
        }
        let (_, req) = X509CertificationRequest::from_der(&pem.contents)
            .map_err(|e| SignError::Malformed(e.to_string()))?;
        // Identities.
        let mut names = Vec::new();
        for ext in req.requested_extensions().into_iter().flatten() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                names.extend(san.general_names.iter().map(|n| match n {
                    GeneralName::URI(u) => format!("URI:{u}"),
                    other => format!("{other}"),
                }));
            }
        }
        let requested = match names.as_slice() {
            [one] if one.starts_with("URI:") => one.trim_start_matches("URI:").to_string(),
            _ => {
                return Err(SignError::Identities(if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }));
            }
        };
        let own = requested.parse::<SpiffeId>().is_ok_and(|r| {
            r == *caller
                || (*r.trust_domain() == self.options.trust_domain
                    && r.same_workload(
                        caller,
                        &self.options.trust_domain,
                        &self.options.trust_domain_aliases,
                    ))
        });
        if !own {
            return Err(SignError::NotCaller {
                requested,
                caller: caller.to_string(),
            });
        }
        // Key.
        let spki = &req.certification_request_info.subject_pki;
        match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::EC(ec)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                if !matches!(curve.as_str(), "1.2.840.10045.3.1.7" | "1.3.132.0.34") {
                    return Err(SignError::UnsupportedKey(format!(
                        "EC curve {curve} ({} bits)",
                        ec.key_size()
                    )));
                }
            }
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                if rsa.key_size() < 2048 {
                    return Err(SignError::UnsupportedKey(format!(
                        "RSA {} bits",
                        rsa.key_size()
                    )));
                }
            }
            Ok(_) => {
                return Err(SignError::UnsupportedKey(
                    spki.algorithm.algorithm.to_id_string(),
                ));
            }
            Err(e) => return Err(SignError::Malformed(format!("public key: {e}"))),
        }
        // The signature last: verifiers refuse weak keys before checking it.
        req.verify_signature()
            .map_err(|_| SignError::BadSignature)?;
        let ttl = if ttl.is_zero() {
            self.options.default_ttl.min(self.options.max_ttl)
        } else {
            ttl
        };
        if ttl > self.options.max_ttl {
            return Err(SignError::TtlTooLong {
                requested: ttl,
                max: self.options.max_ttl,
            });
        }
        // The leaf: only what the CA decides, nothing copied from the request but its key.
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki.raw)
            .map_err(|e| SignError::UnsupportedKey(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names =
            vec![SanType::URI(requested.clone().try_into().map_err(
                |e: rcgen::Error| SignError::Signing(e.to_string()),
            )?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let start = now() - ::time::Duration::minutes(1);
        params.not_before = start;
        params.not_after = start + ttl + ::time::Duration::minutes(1);
        let leaf = params
            .signed_by(&public_key, &self.issuer)
            .map_err(|e| SignError::Signing(e.to_string()))?;
        let mut chain = vec![leaf.pem(), self.cert_pem.clone()];
        chain.extend(self.parents.iter().cloned());
        Ok(Issued {
            chain,
            not_after: params.not_after,
        })
    }

    /// Counters with Istio's metric names, as Prometheus text.
    pub fn metrics(&self) -> String {
        let expiry = self
            .bundle
            .roots
            .iter()
            .filter_map(|r| pem_to_der(r).ok())
            .filter_map(|d| {
                X509Certificate::from_der(&d)
                    .ok()
                    .map(|(_, c)| c.validity().not_after.timestamp())
            })
            .min()
            .unwrap_or(0);
        format!(
            "# TYPE citadel_server_csr_count counter\ncitadel_server_csr_count {}\n\
             # TYPE citadel_server_success_cert_issuance_count counter\ncitadel_server_success_cert_issuance_count {}\n\
             # TYPE citadel_server_csr_sign_error_count counter\ncitadel_server_csr_sign_error_count {}\n\
             # TYPE citadel_server_root_cert_expiry_timestamp gauge\ncitadel_server_root_cert_expiry_timestamp {}\n",
            self.csr_count.load(Ordering::Relaxed),
            self.issued.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            expiry
        )
    }
}

/// A workload's side: a new ECDSA P-256 key and a CSR for `id` (what istio-agent sends).
pub fn workload_csr(id: &SpiffeId) -> Result<(KeyPair, String), SignError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| SignError::Signing(e.to_string()))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names =
        vec![SanType::URI(id.to_string().try_into().map_err(
            |e: rcgen::Error| SignError::Signing(e.to_string()),
        )?)];
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| SignError::Signing(e.to_string()))?;
    Ok((key, csr))
}
