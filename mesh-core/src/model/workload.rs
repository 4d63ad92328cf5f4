//! Workloads: the pods and WorkloadEntries that back services, with their identity.

use std::collections::BTreeMap;

use crate::api::Resource;
use crate::api::k8s;
use crate::api::networking::WorkloadEntrySpec;

use super::service::{Port, TargetPort, namespace_or_default};

/// The label that says whether a workload accepts Istio mutual TLS (`istio`) or not
/// (`disabled`). The sidecar injector sets it on pods.
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";
/// The label that places a workload in a locality, `region.zone.subzone`.
pub const LOCALITY_LABEL: &str = "istio-locality";
/// The label naming a workload's network.
pub const NETWORK_LABEL: &str = "topology.istio.io/network";

/// What kind of object a workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    /// A Kubernetes Pod.
    Pod,
    /// An Istio WorkloadEntry (a VM, or an endpoint of a ServiceEntry).
    WorkloadEntry,
}

/// Whether a workload takes Istio mutual TLS: what auto mTLS reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// It runs a sidecar that terminates `ISTIO_MUTUAL`.
    Istio,
    /// Plain text.
    Disabled,
}

/// A workload instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Pod or WorkloadEntry.
    pub kind: WorkloadKind,
    /// The object name (for a ServiceEntry's inline endpoints, `<entry>-<index>`).
    pub name: String,
    /// Its namespace (`default` when the manifest names none).
    pub namespace: String,
    /// Addresses: IPs, or for WorkloadEntries a DNS name or `unix://` path. Empty for a pod
    /// that has not been scheduled (a manifest from git).
    pub addresses: Vec<String>,
    /// Labels, matched by selectors.
    pub labels: BTreeMap<String, String>,
    /// Service account (`default` for a pod that names none; empty when a WorkloadEntry has
    /// none, which then has no mesh identity).
    pub service_account: String,
    /// Mutual TLS mode.
    pub tls_mode: TlsMode,
    /// Locality, `region/zone/subzone`.
    pub locality: String,
    /// Network, for multi-network meshes.
    pub network: String,
    /// Load-balancing weight; 0 means unset (Envoy's default of 1).
    pub weight: u32,
    /// Named ports: a pod's container port names, or a WorkloadEntry's port overrides by
    /// service port name.
    pub ports: BTreeMap<String, u32>,
    /// A pod's phase (`Running`...); empty for WorkloadEntries.
    pub phase: String,
}

impl Workload {
    /// The workload of a pod.
    ///
    /// ```
    /// use mesh_core::model::{TlsMode, Workload};
    ///
    /// let pod: mesh_core::api::k8s::Pod = serde_json::from_value(serde_json::json!({
    ///     "apiVersion": "v1", "kind": "Pod",
    ///     "metadata": {"name": "reviews-v1-abc", "namespace": "default",
    ///                  "labels": {"app": "reviews", "security.istio.io/tlsMode": "istio"}},
    ///     "spec": {"serviceAccountName": "bookinfo-reviews",
    ///              "containers": [{"name": "app", "ports": [{"name": "http", "containerPort": 9080}]}]},
    ///     "status": {"phase": "Running", "podIP": "10.8.0.11"}
    /// }))?;
    /// let w = Workload::from_pod(&pod);
    /// assert_eq!(w.addresses, ["10.8.0.11"]);
    /// assert_eq!(w.tls_mode, TlsMode::Istio);
    /// assert_eq!(w.spiffe_id("cluster.local").as_deref(),
    ///            Some("spiffe://cluster.local/ns/default/sa/bookinfo-reviews"));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_pod(pod: &k8s::Pod) -> Workload {
        let meta = &pod.metadata;
        let status = &pod.status;
        let mut addresses: Vec<String> = status.pod_ips.iter().map(|p| p.ip.clone()).collect();
        if addresses.is_empty() && !status.pod_ip.is_empty() {
            addresses.push(status.pod_ip.clone());
        }
        let ports = pod
            .spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .filter(|p| !p.name.is_empty())
            .map(|p| (p.name.clone(), u32::from(p.container_port)))
            .collect();
        let service_account = if pod.spec.service_account_name.is_empty() {
            "default".to_string()
        } else {
            pod.spec.service_account_name.clone()
        };
        Workload {
            kind: WorkloadKind::Pod,
            name: meta.name.clone(),
            namespace: namespace_or_default(&meta.namespace),
            addresses,
            tls_mode: tls_mode_label(&meta.labels).unwrap_or(TlsMode::Disabled),
            locality: locality_label(&meta.labels),
            network: meta.labels.get(NETWORK_LABEL).cloned().unwrap_or_default(),
            labels: meta.labels.clone(),
            service_account,
            weight: 0,
            ports,
            phase: status.phase.clone(),
        }
    }

    /// The workload of a WorkloadEntry object.
    pub fn from_workload_entry(we: &Resource<WorkloadEntrySpec>) -> Workload {
        Workload::from_entry_spec(
            &we.spec,
            &we.metadata.name,
            &namespace_or_default(&we.metadata.namespace),
        )
    }

    /// The workload of a WorkloadEntry spec: a standalone entry, or the endpoint at index `i`
    /// of a ServiceEntry named `entry` (named `<entry>-<i>`, as istiod names it).
    pub fn from_entry_spec(spec: &WorkloadEntrySpec, name: &str, namespace: &str) -> Workload {
        // An explicit label wins; otherwise a service account means a sidecar.
        let tls_mode = tls_mode_label(&spec.labels).unwrap_or(if spec.service_account.is_empty() {
            TlsMode::Disabled
        } else {
            TlsMode::Istio
        });
        let locality = if spec.locality.is_empty() {
            locality_label(&spec.labels)
        } else {
            spec.locality.clone()
        };
        let network = if spec.network.is_empty() {
            spec.labels.get(NETWORK_LABEL).cloned().unwrap_or_default()
        } else {
            spec.network.clone()
        };
        Workload {
            kind: WorkloadKind::WorkloadEntry,
            name: name.to_string(),
            namespace: namespace.to_string(),
            addresses: if spec.address.is_empty() {
                Vec::new()
            } else {
                vec![spec.address.clone()]
            },
            labels: spec.labels.clone(),
            service_account: spec.service_account.clone(),
            tls_mode,
            locality,
            network,
            weight: spec.weight,
            ports: spec.ports.clone(),
            phase: String::new(),
        }
    }

    /// The workload's SPIFFE identity in `trust_domain`, if it has a service account.
    pub fn spiffe_id(&self, trust_domain: &str) -> Option<String> {
        (!self.service_account.is_empty()).then(|| {
            format!(
                "spiffe://{trust_domain}/ns/{}/sa/{}",
                self.namespace, self.service_account
            )
        })
    }

    /// Whether every label of `selector` is on this workload. An empty selector matches
    /// everything (workload selectors); a Service with no selector selects no pods, which
    /// callers check first.
    pub fn matches(&self, selector: &BTreeMap<String, String>) -> bool {
        selector
            .iter()
            .all(|(k, v)| self.label(k).is_some_and(|l| l == v))
    }

    /// The value of label `key`. Labels are few: a walk comparing lengths first reads the
    /// bytes of only the keys as long as `key` (a map lookup reads every key it passes).
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k.len() == key.len() && *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a pod has finished (`Succeeded` or `Failed`): istiod publishes no endpoint
    /// for it.
    pub fn is_terminated(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed")
    }

    /// The port a service port reaches on this workload, or `None` when a named target port
    /// names no container port (Kubernetes then publishes no endpoint).
    ///
    /// A WorkloadEntry's override for the port name comes first, as in istiod; then the
    /// port's target (a number, or a pod's container port by name); then the port number. A
    /// `unix://` workload has no port (0).
    pub fn target_port(&self, port: &Port) -> Option<u32> {
        if self.kind == WorkloadKind::WorkloadEntry {
            if self.addresses.len() == 1 && self.addresses[0].starts_with("unix://") {
                return Some(0);
            }
            if let Some(p) = self.ports.get(&port.name).filter(|p| **p > 0) {
                return Some(*p);
            }
        }
        match &port.target {
            TargetPort::Same => Some(port.number),
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(name) if self.kind == WorkloadKind::Pod => {
                self.ports.get(name).copied()
            }
            TargetPort::Name(_) => Some(port.number),
        }
    }
}

fn tls_mode_label(labels: &BTreeMap<String, String>) -> Option<TlsMode> {
    labels.get(TLS_MODE_LABEL).map(|v| {
        if v == "istio" {
            TlsMode::Istio
        } else {
            TlsMode::Disabled
        }
    })
}

/// `istio-locality: us-east1.us-east1-b` is `us-east1/us-east1-b` (labels cannot hold `/`).
pub(crate) fn locality_label(labels: &BTreeMap<String, String>) -> String {
    labels
        .get(LOCALITY_LABEL)
        .map(|l| l.replace('.', "/"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DEFAULT_NAMESPACE, Service};
    use serde_json::json;

    fn pod(v: serde_json::Value) -> k8s::Pod {
        serde_json::from_value(v).expect("a Pod")
    }

    fn entry(v: serde_json::Value) -> Resource<WorkloadEntrySpec> {
        serde_json::from_value(v).expect("a WorkloadEntry")
    }

    #[test]
    fn pods() {
        let p = pod(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "db-0", "labels": {"app": "db", "istio-locality": "eu.eu-1a",
                                                   "topology.istio.io/network": "net1"}},
            "spec": {"containers": [{"name": "db", "ports": [{"name": "pg", "containerPort": 5432},
                                                           {"containerPort": 9000}]}]},
            "status": {"phase": "Succeeded", "podIP": "10.0.0.1",
                       "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}
        }));
        let w = Workload::from_pod(&p);
        assert_eq!(w.namespace, DEFAULT_NAMESPACE);
        assert_eq!(w.addresses, ["10.0.0.1", "fd00::1"]);
        assert_eq!(w.service_account, "default");
        assert_eq!(
            w.tls_mode,
            TlsMode::Disabled,
            "no tlsMode label: no sidecar"
        );
        assert_eq!(w.locality, "eu/eu-1a");
        assert_eq!(w.network, "net1");
        assert_eq!(w.ports, BTreeMap::from([("pg".to_string(), 5432)]));
        assert!(w.is_terminated());
        assert_eq!(
            w.spiffe_id("td").as_deref(),
            Some("spiffe://td/ns/default/sa/default")
        );

        let target = |target: serde_json::Value| -> Option<u32> {
            let svc: k8s::Service = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                "spec": {"ports": [{"port": 80, "targetPort": target}]}
            }))
            .expect("a Service");
            w.target_port(&Service::from_kubernetes(&svc, "cluster.local").ports[0])
        };
        assert_eq!(target(json!(8080)), Some(8080));
        assert_eq!(target(json!("pg")), Some(5432));
        assert_eq!(target(json!("8081")), Some(8081));
        assert_eq!(target(json!("nope")), None);
        assert_eq!(target(serde_json::Value::Null), Some(80));
    }

    #[test]
    fn workload_entries() {
        let vm = entry(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": "vm-1", "namespace": "vms"},
            "spec": {"address": "192.168.0.7", "serviceAccount": "vm", "locality": "us/a",
                     "weight": 3, "ports": {"http": 8081}, "labels": {"app": "api"}}
        }));
        let w = Workload::from_workload_entry(&vm);
        assert_eq!(w.kind, WorkloadKind::WorkloadEntry);
        assert_eq!(
            w.tls_mode,
            TlsMode::Istio,
            "a service account means a sidecar"
        );
        assert_eq!((w.locality.as_str(), w.weight), ("us/a", 3));
        assert_eq!(
            w.spiffe_id("cluster.local").as_deref(),
            Some("spiffe://cluster.local/ns/vms/sa/vm")
        );
        let port = |name: &str, number: u32, target: u32| Port {
            name: name.into(),
            number,
            protocol: crate::model::Protocol::Http,
            target: if target > 0 {
                TargetPort::Number(target)
            } else {
                TargetPort::Same
            },
        };
        assert_eq!(
            w.target_port(&port("http", 80, 9000)),
            Some(8081),
            "override wins"
        );
        assert_eq!(
            w.target_port(&port("grpc", 81, 9000)),
            Some(9000),
            "then targetPort"
        );
        assert_eq!(
            w.target_port(&port("grpc", 81, 0)),
            Some(81),
            "then the number"
        );

        let plain = Workload::from_entry_spec(
            &WorkloadEntrySpec {
                address: "unix:///var/run/app.sock".into(),
                labels: BTreeMap::from([(TLS_MODE_LABEL.to_string(), "disabled".to_string())]),
                service_account: "x".into(),
                ..WorkloadEntrySpec::default()
            },
            "se-0",
            "ns",
        );
        assert_eq!(
            plain.tls_mode,
            TlsMode::Disabled,
            "the label wins over the account"
        );
        assert_eq!(plain.target_port(&port("http", 80, 0)), Some(0));
        let anonymous = Workload::from_entry_spec(&WorkloadEntrySpec::default(), "e-0", "ns");
        assert_eq!(anonymous.spiffe_id("td"), None);
        assert!(anonymous.addresses.is_empty());
    }

    #[test]
    fn selectors() {
        let w = Workload::from_entry_spec(
            &WorkloadEntrySpec {
                labels: BTreeMap::from([
                    ("app".to_string(), "a".to_string()),
                    ("version".to_string(), "v1".to_string()),
                ]),
                ..WorkloadEntrySpec::default()
            },
            "w",
            "ns",
        );
        let sel = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(w.matches(&sel(&[])));
        assert!(w.matches(&sel(&[("app", "a")])));
        assert!(w.matches(&sel(&[("app", "a"), ("version", "v1")])));
        assert!(!w.matches(&sel(&[("app", "a"), ("version", "v2")])));
        assert!(!w.matches(&sel(&[("tier", "a")])));
        // Many labels (several map nodes), keys of one length, a key that prefixes another.
        let mut labels: BTreeMap<String, String> = (0..40)
            .map(|i| (format!("k{i:02}"), format!("v{i}")))
            .collect();
        labels.insert("k".into(), "short".into());
        labels.insert("k000".into(), "long".into());
        let many = Workload::from_entry_spec(
            &WorkloadEntrySpec {
                labels,
                ..WorkloadEntrySpec::default()
            },
            "m",
            "ns",
        );
        for i in 0..40 {
            let k = format!("k{i:02}");
            assert_eq!(many.label(&k), Some(format!("v{i}").as_str()));
        }
        assert_eq!(many.label("k"), Some("short"));
        assert_eq!(many.label("k000"), Some("long"));
        assert_eq!(many.label("k40"), None);
        assert_eq!(many.label(""), None);
        assert!(many.matches(&sel(&[("k07", "v7"), ("k39", "v39"), ("k", "short")])));
        assert!(!many.matches(&sel(&[("k07", "v7"), ("k39", "v38")])));
    }
}
