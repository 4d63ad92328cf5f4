//! SPIFFE identities (`spiffe://trust-domain/path`), as the SPIFFE ID specification defines
//! them, with Istio's `spiffe://<td>/ns/<namespace>/sa/<service account>` form.

use std::fmt;

/// Why a string is not a SPIFFE ID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpiffeIdError {
    /// It does not start with `spiffe://`.
    #[error("{0:?}: a SPIFFE ID starts with spiffe://")]
    Scheme(String),
    /// The trust domain is empty or has characters outside `[a-z0-9._-]`.
    #[error("{0:?}: the trust domain must be non-empty lowercase letters, digits, '.', '-' or '_'")]
    TrustDomain(String),
    /// A path segment is empty, `.` or `..`, or has characters outside `[A-Za-z0-9._-]`.
    #[error(
        "{0:?}: path segments must be non-empty, not '.' or '..', of letters, digits, '.', '-' or '_'"
    )]
    Path(String),
    /// Longer than 2048 bytes.
    #[error("a SPIFFE ID is at most 2048 bytes")]
    TooLong,
}

/// A SPIFFE trust domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Validates a trust domain name (`cluster.local`).
    pub fn new(name: &str) -> Result<TrustDomain, SpiffeIdError> {
        let ok = !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
            });
        if ok {
            Ok(TrustDomain(name.to_string()))
        } else {
            Err(SpiffeIdError::TrustDomain(name.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SPIFFE ID.
///
/// ```
/// use mesh_ca::SpiffeId;
/// let id: SpiffeId = "spiffe://cluster.local/ns/shop/sa/web".parse()?;
/// assert_eq!(id.trust_domain().as_str(), "cluster.local");
/// assert_eq!(id.namespace(), Some("shop"));
/// assert_eq!(id.service_account(), Some("web"));
/// assert!("spiffe://Cluster.local/x".parse::<SpiffeId>().is_err());
/// # Ok::<(), mesh_ca::SpiffeIdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    trust_domain: TrustDomain,
    path: String,
}

impl SpiffeId {
    /// Istio's identity of a service account: `spiffe://<td>/ns/<namespace>/sa/<sa>`.
    pub fn istio(
        trust_domain: &TrustDomain,
        namespace: &str,
        service_account: &str,
    ) -> Result<SpiffeId, SpiffeIdError> {
        format!("spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}").parse()
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The path (`/ns/shop/sa/web`), empty for the trust domain's own ID.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn istio_part(&self, key: &str) -> Option<&str> {
        let parts: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["ns", ns, "sa", sa] => Some(if key == "ns" { ns } else { sa }),
            _ => None,
        }
    }

    /// The namespace of an Istio identity.
    pub fn namespace(&self) -> Option<&str> {
        self.istio_part("ns")
    }

    /// The service account of an Istio identity.
    pub fn service_account(&self) -> Option<&str> {
        self.istio_part("sa")
    }

    /// The same workload in another trust domain.
    pub fn in_trust_domain(&self, trust_domain: &TrustDomain) -> SpiffeId {
        SpiffeId {
            trust_domain: trust_domain.clone(),
            path: self.path.clone(),
        }
    }

    /// Whether `other` is this identity, counting trust domain aliases (Istio's
    /// `trustDomainAliases`): equal, or the same path with this trust domain and `other`'s
    /// being `trust_domain` and one of its `aliases` (either way round).
    ///
    /// ```
    /// use mesh_ca::{SpiffeId, TrustDomain};
    /// let new: SpiffeId = "spiffe://new.example/ns/a/sa/b".parse()?;
    /// let old: SpiffeId = "spiffe://old.example/ns/a/sa/b".parse()?;
    /// let td = TrustDomain::new("new.example")?;
    /// let aliases = [TrustDomain::new("old.example")?];
    /// assert!(new.same_workload(&old, &td, &aliases));
    /// assert!(!new.same_workload(&old, &td, &[]));
    /// # Ok::<(), mesh_ca::SpiffeIdError>(())
    /// ```
    pub fn same_workload(
        &self,
        other: &SpiffeId,
        trust_domain: &TrustDomain,
        aliases: &[TrustDomain],
    ) -> bool {
        if self == other {
            return true;
        }
        let known = |td: &TrustDomain| td == trust_domain || aliases.contains(td);
        self.path == other.path && known(&self.trust_domain) && known(&other.trust_domain)
    }
}

impl std::str::FromStr for SpiffeId {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<SpiffeId, SpiffeIdError> {
        if s.len() > 2048 {
            return Err(SpiffeIdError::TooLong);
        }
        let rest = s
            .strip_prefix("spiffe://")
            .ok_or_else(|| SpiffeIdError::Scheme(s.to_string()))?;
        let (td, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let trust_domain =
            TrustDomain::new(td).map_err(|_| SpiffeIdError::TrustDomain(s.to_string()))?;
        if !path.is_empty() {
            for seg in path[1..].split('/') {
                let ok = !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
                if !ok {
                    return Err(SpiffeIdError::Path(s.to_string()));
                }
            }
        }
        Ok(SpiffeId {
            trust_domain,
            path: path.to_string(),
        })
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}{}", self.trust_domain, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table() {
        for ok in [
            "spiffe://cluster.local/ns/a/sa/b",
            "spiffe://example.org",
            "spiffe://td_1-x.y/a.b/c-d/e_f",
        ] {
            let id: SpiffeId = ok.parse().unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(id.to_string(), ok);
        }
        for bad in [
            "http://cluster.local/ns/a",
            "spiffe://",
            "spiffe:///path",
            "spiffe://Cluster.local/x",
            "spiffe://td:8080/x",
            "spiffe://user@td/x",
            "spiffe://td/",
            "spiffe://td//x",
            "spiffe://td/./x",
            "spiffe://td/../x",
            "spiffe://td/x?q=1",
            "spiffe://td/x#f",
            "spiffe://td/x%20y",
        ] {
            assert!(bad.parse::<SpiffeId>().is_err(), "{bad} is not a SPIFFE ID");
        }
        assert_eq!(
            "spiffe://td/x".repeat(300).parse::<SpiffeId>(),
            Err(SpiffeIdError::TooLong)
        );
        let td = TrustDomain::new("cluster.local").expect("td");
        let id = SpiffeId::istio(&td, "shop", "web").expect("id");
        assert_eq!(
            (id.namespace(), id.service_account()),
            (Some("shop"), Some("web"))
        );
        let other: SpiffeId = "spiffe://cluster.local/workload/x".parse().expect("id");
        assert_eq!(other.namespace(), None);
    }
}
