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

/// A Prometheus-style histogram of durations in seconds: cumulative counts at fixed upper
/// bounds, the sum and the count.
///
/// ```
/// use mesh_xds::Histogram;
///
/// let mut h = Histogram::new(&[0.1, 1.0]);
/// h.observe(std::time::Duration::from_millis(50));
/// h.observe(std::time::Duration::from_millis(500));
/// h.observe(std::time::Duration::from_secs(5));
/// assert_eq!(h.buckets().collect::<Vec<_>>(), [(0.1, 1), (1.0, 2), (f64::INFINITY, 3)]);
/// assert_eq!(h.count(), 3);
///
/// let mut text = String::new();
/// h.write_prometheus(&mut text, "pilot_proxy_convergence_time", &[]);
/// assert!(text.contains("pilot_proxy_convergence_time_bucket{le=\"1\"} 2\n"));
/// assert!(text.contains("pilot_proxy_convergence_time_count 3\n"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// Per bucket (not cumulative); the last is the `+Inf` bucket.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    /// istiod's buckets for `pilot_xds_push_time`.
    pub const PUSH_TIME_BOUNDS: [f64; 8] = [0.01, 0.1, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0];
    /// istiod's buckets for `pilot_proxy_convergence_time`.
    pub const CONVERGENCE_BOUNDS: [f64; 8] = [0.1, 0.5, 1.0, 3.0, 5.0, 10.0, 20.0, 30.0];

    /// An empty histogram with these upper bounds (ascending; `+Inf` is implied).
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Records one duration.
    pub fn observe(&mut self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += secs;
    }

    /// `(upper bound, cumulative count)`, ending with `+Inf` and the total.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts.iter().scan(0, |acc, c| {
                *acc += c;
                Some(*acc)
            }))
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of the observations, in seconds.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Appends the `_bucket`, `_sum` and `_count` lines in Prometheus text format, with
    /// `labels` (`(name, value)`) on each.
    pub fn write_prometheus(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        use std::fmt::Write;
        let base: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        for (le, n) in self.buckets() {
            let le = if le.is_infinite() {
                "+Inf".to_string()
            } else {
                le.to_string()
            };
            let mut l = base.clone();
            l.push(format!("le=\"{le}\""));
            let _ = writeln!(out, "{name}_bucket{{{}}} {n}", l.join(","));
        }
        let plain = if base.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", base.join(","))
        };
        let _ = writeln!(out, "{name}_sum{plain} {}", self.sum);
        let _ = writeln!(out, "{name}_count{plain} {}", self.count());
    }
}
