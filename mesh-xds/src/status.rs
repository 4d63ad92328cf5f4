//! Per proxy and type: what was sent, what was accepted, and the last rejection, as
//! `istioctl proxy-status` shows it (SYNCED, STALE, NOT SENT).

use std::collections::BTreeMap;

/// The sync state of one type for one proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    /// The proxy accepted the last version sent.
    Synced,
    /// A version was sent and not (yet) accepted.
    Stale,
    /// Nothing was sent.
    NotSent,
}

impl std::fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncStatus::Synced => "SYNCED",
            SyncStatus::Stale => "STALE",
            SyncStatus::NotSent => "NOT SENT",
        })
    }
}

/// One type's history on one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeStatus {
    /// The version last sent.
    pub sent_version: String,
    /// The version last accepted.
    pub acked_version: String,
    /// The last rejection: the version and Envoy's message.
    pub last_nack: Option<(String, String)>,
    /// Responses sent.
    pub pushes: u64,
    /// Rejections received.
    pub rejects: u64,
}

impl TypeStatus {
    /// SYNCED, STALE or NOT SENT.
    pub fn sync(&self) -> SyncStatus {
        if self.sent_version.is_empty() {
            SyncStatus::NotSent
        } else if self.sent_version == self.acked_version {
            SyncStatus::Synced
        } else {
            SyncStatus::Stale
        }
    }

    pub(crate) fn sent(&mut self, version: &str) {
        self.sent_version = version.to_string();
        self.pushes += 1;
    }

    pub(crate) fn acked(&mut self, version: &str) {
        self.acked_version = version.to_string();
    }

    pub(crate) fn nacked(&mut self, message: &str) {
        self.last_nack = Some((self.sent_version.clone(), message.to_string()));
        self.rejects += 1;
    }
}

/// One connected proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyStatus {
    /// The connection id (`<node id>-<n>`).
    pub connection: String,
    /// The node id.
    pub node_id: String,
    /// Whether the stream is Delta.
    pub delta: bool,
    /// By type URL.
    pub types: BTreeMap<String, TypeStatus>,
}

impl ProxyStatus {
    /// The state of a type (NOT SENT if never requested).
    pub fn sync(&self, type_url: &str) -> SyncStatus {
        self.types
            .get(type_url)
            .map_or(SyncStatus::NotSent, TypeStatus::sync)
    }
}
