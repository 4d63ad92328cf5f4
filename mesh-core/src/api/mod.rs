//! Istio's configuration API as Rust types.
//!
//! One type per kind, with every field of the istio/api protos as the CRDs in istio/istio
//! declare them, and one [`Object`] enum over every kind the loader knows. All served versions
//! of a kind (`v1alpha3`, `v1beta1`, `v1`) load into the same type; the version an object was
//! written with is kept in [`Resource::api_version`].
//!
//! Conventions, the same in every module:
//! - field names are the proto JSON names (`camelCase`), and nothing else is accepted;
//! - proto3 scalars (`string`, numbers, `bool`, enums) are plain values whose default means
//!   "unset"; messages are `Option<T>`; wrapper types (`UInt32Value`, `BoolValue`, ...) are
//!   `Option<primitive>`; repeated fields are `Vec`; maps are `BTreeMap` (deterministic order);
//! - a `oneof` is a Rust enum; setting two members of one `oneof` is a load error;
//! - `google.protobuf.Duration` is [`Duration`]; `google.protobuf.Struct` and `Any` are kept
//!   as JSON ([`serde_json::Value`]).
//!
//! ```
//! use mesh_core::api::{Object, networking::VirtualServiceSpec};
//!
//! let obj: Object = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "networking.istio.io/v1alpha3",
//!     "kind": "VirtualService",
//!     "metadata": {"name": "reviews", "namespace": "bookinfo"},
//!     "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]}
//! }))?;
//! let Object::VirtualService(vs) = &obj else { panic!("not a VirtualService") };
//! assert_eq!(vs.spec.hosts, ["reviews"]);
//! assert_eq!(obj.kind_name(), "VirtualService");
//! # Ok::<(), serde_json::Error>(())
//! ```

mod common;
mod duration;
pub mod extensions;
pub mod k8s;
pub mod mesh;
mod meta;
pub mod networking;
pub mod security;
pub mod telemetry;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub use common::{PolicyTargetReference, PortSelector, WorkloadSelector};
pub use duration::{Duration, DurationParseError};
pub use meta::{ObjectMeta, OwnerReference, UntypedObject};

/// `skip_serializing_if` helper: true when a value equals its type's default (proto3 "unset").
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The spec of an Istio kind: ties a Rust type to its [`Kind`].
pub trait Spec:
    Serialize + DeserializeOwned + Default + Clone + PartialEq + std::fmt::Debug
{
    /// The kind this spec belongs to.
    const KIND: Kind;
}

/// An Istio object: the envelope (`apiVersion`, `kind`, `metadata`, `status`) around a typed spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource<S> {
    /// `group/version` as written (`networking.istio.io/v1alpha3`).
    pub api_version: String,
    /// The kind name (`VirtualService`).
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The typed spec.
    #[serde(default)]
    pub spec: S,
    /// Status as the controller wrote it, kept opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

impl<S: Spec> Resource<S> {
    /// A new object at the kind's storage version.
    ///
    /// ```
    /// use mesh_core::api::{Resource, security::PeerAuthenticationSpec};
    /// let pa = Resource::new("default", "istio-system", PeerAuthenticationSpec::default());
    /// assert_eq!(pa.api_version, "security.istio.io/v1");
    /// assert_eq!(pa.kind, "PeerAuthentication");
    /// ```
    pub fn new(name: impl Into<String>, namespace: impl Into<String>, spec: S) -> Self {
        Self {
            api_version: format!("{}/{}", S::KIND.group(), S::KIND.storage_version()),
            kind: S::KIND.as_str().to_string(),
            metadata: ObjectMeta::named(name, namespace),
            spec,
            status: None,
        }
    }
}

macro_rules! kinds {
    (
        istio { $( $(#[$doc:meta])* $kind:ident => $spec:path, $group:literal, [$($ver:literal),+], $storage:literal; )+ }
        kube { $( $(#[$kdoc:meta])* $kkind:ident => $ktype:path, $kgroup:literal; )+ }
    ) => {
        /// Every kind the typed API models.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Kind {
            $( $(#[$doc])* $kind, )+
            $( $(#[$kdoc])* $kkind, )+
        }

        impl Kind {
            /// Every modelled kind, Istio kinds first.
            pub const ALL: &'static [Kind] = &[$(Kind::$kind,)+ $(Kind::$kkind,)+];

            /// The kind name as written in `kind:`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Kind::$kind => stringify!($kind),)+ $(Kind::$kkind => stringify!($kkind),)+ }
            }

            /// The API group (empty for the Kubernetes core group).
            pub const fn group(self) -> &'static str {
                match self {
                    $(Kind::$kind => $group,)+
                    $(Kind::$kkind => $kgroup,)+
                }
            }

            /// The versions served for this kind.
            pub const fn versions(self) -> &'static [&'static str] {
                match self { $(Kind::$kind => &[$($ver),+],)+ $(Kind::$kkind => &["v1"],)+ }
            }

            /// The version new objects are written with.
            pub const fn storage_version(self) -> &'static str {
                match self { $(Kind::$kind => $storage,)+ $(Kind::$kkind => "v1",)+ }
            }

            /// Whether this is an Istio kind (as opposed to a Kubernetes one).
            pub const fn is_istio(self) -> bool {
                matches!(self, $(Kind::$kind)|+)
            }

            /// Looks a kind up by its name and `apiVersion`. `Ok(None)` when the kind is not
            /// modelled; `Err` with the served versions when the group matches but the version
            /// is not served.
            pub fn from_type(api_version: &str, kind: &str) -> Result<Option<Kind>, &'static [&'static str]> {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                for k in Kind::ALL {
                    if k.as_str() == kind && k.group() == group {
                        return if k.versions().contains(&version) { Ok(Some(*k)) } else { Err(k.versions()) };
                    }
                }
                Ok(None)
            }
        }

        $(
            impl Spec for $spec {
                const KIND: Kind = Kind::$kind;
            }
            $(#[$doc])*
            pub type $kind = Resource<$spec>;
        )+

        /// One object of any kind: a typed Istio or Kubernetes object, or an untyped one.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(untagged)]
        #[non_exhaustive]
        #[allow(clippy::large_enum_variant)]
        pub enum Object {
            $( $(#[$doc])* $kind($kind), )+
            $( $(#[$kdoc])* $kkind($ktype), )+
            /// Any other kind (Deployments, Gateway API, ...), with its kind and metadata.
            Untyped(UntypedObject),
        }

        impl Object {
            /// The modelled kind, or `None` for an untyped object.
            pub fn kind(&self) -> Option<Kind> {
                match self {
                    $(Object::$kind(_) => Some(Kind::$kind),)+
                    $(Object::$kkind(_) => Some(Kind::$kkind),)+
                    Object::Untyped(_) => None,
                }
            }

            /// The kind name as written.
            pub fn kind_name(&self) -> &str {
                match self {
                    Object::Untyped(u) => &u.kind,
                    other => other.kind().map(Kind::as_str).unwrap_or_default(),
                }
            }

            /// The `apiVersion` as written.
            pub fn api_version(&self) -> &str {
                match self {
                    $(Object::$kind(o) => &o.api_version,)+
                    $(Object::$kkind(o) => &o.api_version,)+
                    Object::Untyped(o) => &o.api_version,
                }
            }

            /// The object's metadata.
            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$kind(o) => &o.metadata,)+
                    $(Object::$kkind(o) => &o.metadata,)+
                    Object::Untyped(o) => &o.metadata,
                }
            }

            /// The object's metadata, mutably.
            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$kind(o) => &mut o.metadata,)+
                    $(Object::$kkind(o) => &mut o.metadata,)+
                    Object::Untyped(o) => &mut o.metadata,
                }
            }

            /// Deserializes a JSON object of a known `kind`. Unknown fields are passed to
            /// `on_unknown` with their path; type errors carry their path.
            pub(crate) fn from_value_typed(
                kind: Kind,
                value: serde_json::Value,
                on_unknown: &mut dyn FnMut(serde_ignored::Path<'_>),
            ) -> Result<Object, serde_path_to_error::Error<serde_json::Error>> {
                fn de<T: DeserializeOwned>(
                    v: serde_json::Value,
                    cb: &mut dyn FnMut(serde_ignored::Path<'_>),
                ) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
                    let mut f = |p: serde_ignored::Path<'_>| cb(p);
                    let ignoring = serde_ignored::Deserializer::new(crate::load::Strict(v), &mut f);
                    serde_path_to_error::deserialize(ignoring)
                }
                Ok(match kind {
                    $(Kind::$kind => Object::$kind(de(value, on_unknown)?),)+
                    // Kubernetes kinds are light types holding only the fields the mesh reads:
                    // their other fields are expected, never reported.
                    $(Kind::$kkind => Object::$kkind(de(value, &mut |_| {})?),)+
                })
            }
        }

        $(
            impl From<$kind> for Object {
                fn from(o: $kind) -> Self { Object::$kind(o) }
            }
        )+
    };
}

kinds! {
    istio {
        /// `networking.istio.io` VirtualService: HTTP, TLS and TCP routing rules.
        VirtualService => networking::VirtualServiceSpec, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], "v1";
        /// `networking.istio.io` DestinationRule: policies applied after routing.
        DestinationRule => networking::DestinationRuleSpec, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], "v1";
        /// `networking.istio.io` Gateway: a load balancer at the edge of the mesh.
        Gateway => networking::GatewaySpec, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], "v1";
        /// `networking.istio.io` ServiceEntry: services added to the registry.
        ServiceEntry => networking::ServiceEntrySpec, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], "v1";
        /// `networking.istio.io` Sidecar: scoping of a sidecar's configuration.
        Sidecar => networking::SidecarSpec, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], "v1";
        /// `networking.istio.io` WorkloadEntry: a non-Kubernetes workload.
        WorkloadEntry => networking::WorkloadEntrySpec, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], "v1";
        /// `networking.istio.io` WorkloadGroup: a template for WorkloadEntries.
        WorkloadGroup => networking::WorkloadGroupSpec, "networking.istio.io", ["v1", "v1beta1", "v1alpha3"], "v1";
        /// `networking.istio.io` EnvoyFilter: patches to the generated Envoy config.
        EnvoyFilter => networking::EnvoyFilterSpec, "networking.istio.io", ["v1alpha3"], "v1alpha3";
        /// `networking.istio.io` ProxyConfig: per-workload proxy settings.
        ProxyConfig => networking::ProxyConfigSpec, "networking.istio.io", ["v1beta1"], "v1beta1";
        /// `security.istio.io` AuthorizationPolicy: access control.
        AuthorizationPolicy => security::AuthorizationPolicySpec, "security.istio.io", ["v1", "v1beta1"], "v1";
        /// `security.istio.io` PeerAuthentication: mutual TLS modes.
        PeerAuthentication => security::PeerAuthenticationSpec, "security.istio.io", ["v1", "v1beta1"], "v1";
        /// `security.istio.io` RequestAuthentication: JWT validation.
        RequestAuthentication => security::RequestAuthenticationSpec, "security.istio.io", ["v1", "v1beta1"], "v1";
        /// `telemetry.istio.io` Telemetry: metrics, access logs and tracing.
        Telemetry => telemetry::TelemetrySpec, "telemetry.istio.io", ["v1", "v1alpha1"], "v1";
        /// `extensions.istio.io` WasmPlugin: WebAssembly filters.
        WasmPlugin => extensions::WasmPluginSpec, "extensions.istio.io", ["v1alpha1"], "v1alpha1";
    }
    kube {
        /// Kubernetes Namespace.
        Namespace => k8s::Namespace, "";
        /// Kubernetes Service.
        Service => k8s::Service, "";
        /// Kubernetes Endpoints.
        Endpoints => k8s::Endpoints, "";
        /// Kubernetes EndpointSlice (`discovery.k8s.io/v1`).
        EndpointSlice => k8s::EndpointSlice, "discovery.k8s.io";
        /// Kubernetes Pod.
        Pod => k8s::Pod, "";
        /// Kubernetes ServiceAccount.
        ServiceAccount => k8s::ServiceAccount, "";
        /// Kubernetes Secret (gateway credentials).
        Secret => k8s::Secret, "";
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Object {
    /// Deserializes any object leniently (unknown fields ignored); use [`crate::load`] for
    /// strict loading with positioned errors.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        crate::load::object_from_value(value, false)
            .map(|(o, _)| o)
            .map_err(serde::de::Error::custom)
    }
}
