//! The CA: issued chains checked by x509-parser and by Debian's `openssl verify`; every bad
//! request refused with the right error and nothing issued; root rotation; persistence; an
//! intermediate from Istio's `cacerts` files.

use std::process::Command;
use std::time::Duration;

use ::time::OffsetDateTime;
use mesh_ca::{Ca, CaOptions, SignError, SpiffeId, TrustDomain, VerifyError, workload_csr};
use x509_parser::prelude::*;

fn td() -> TrustDomain {
    TrustDomain::new("cluster.local").expect("td")
}

fn id(ns: &str, sa: &str) -> SpiffeId {
    SpiffeId::istio(&td(), ns, sa).expect("id")
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `openssl verify` of the leaf with the bundle as CA file and the middle of the chain as
/// untrusted intermediates.
fn openssl_verify(bundle_pem: &str, chain: &[String]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("roots.pem");
    let leaf = dir.path().join("leaf.pem");
    let untrusted = dir.path().join("untrusted.pem");
    std::fs::write(&ca, bundle_pem).expect("write");
    std::fs::write(&leaf, &chain[0]).expect("write");
    std::fs::write(&untrusted, chain[1..].concat()).expect("write");
    let mut cmd = Command::new("openssl");
    cmd.arg("verify").arg("-CAfile").arg(&ca);
    if chain.len() > 1 {
        cmd.arg("-untrusted").arg(&untrusted);
    }
    let out = cmd
        .arg(&leaf)
        .output()
        .expect("openssl runs (Debian's openssl package)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn der(pem_text: &str) -> Vec<u8> {
    ::pem::parse(pem_text).expect("pem").contents().to_vec()
}

#[test]
fn issued_certificates_are_what_istio_issues() {
    let ca = Ca::generate(CaOptions::new(td())).expect("ca");
    let me = id("shop", "web");
    let (_key, csr) = workload_csr(&me).expect("csr");
    let issued = ca
        .sign_csr(&csr, &me, Duration::from_secs(3600))
        .expect("signed");
    assert_eq!(issued.chain.len(), 2, "leaf and root");
    let (ok, text) = openssl_verify(&ca.bundle().pem(), &issued.chain);
    assert!(ok, "{text}");
    let leaf_der = der(&issued.chain[0]);
    let (_, leaf) = X509Certificate::from_der(&leaf_der).expect("parses");
    let sans: Vec<String> = leaf
        .subject_alternative_name()
        .expect("ok")
        .expect("SAN")
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::URI(u) => format!("URI:{u}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(sans, [format!("URI:{me}")]);
    let ku = leaf.key_usage().expect("ok").expect("key usage").value;
    assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());
    let eku = leaf.extended_key_usage().expect("ok").expect("eku").value;
    assert!(eku.server_auth && eku.client_auth);
    assert!(!leaf.is_ca());
    let lifetime = leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp();
    assert!((3600..=3600 + 180).contains(&lifetime), "{lifetime}");
    assert_eq!(
        ca.bundle().verify(&issued.chain[..1], now()),
        Ok(me.clone())
    );
    // The default TTL is 24 h.
    let day = ca.sign_csr(&csr, &me, Duration::ZERO).expect("signed");
    assert!(day.not_after - now() > ::time::Duration::hours(23));
    assert!(
        ca.metrics()
            .contains("citadel_server_success_cert_issuance_count 2")
    );
}

fn openssl_csr(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("openssl")
        .args(["req", "-new", "-nodes", "-subj", "/", "-keyout"])
        .arg(dir.path().join("key.pem"))
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bad_requests_are_refused_and_nothing_is_issued() {
    let mut options = CaOptions::new(td());
    options.max_ttl = Duration::from_secs(7200);
    let ca = Ca::generate(options).expect("ca");
    let me = id("shop", "web");
    let (_key, good) = workload_csr(&me).expect("csr");

    // A byte flipped in the signature.
    let mut tampered = der(&good);
    if let Some(last) = tampered.last_mut() {
        *last ^= 0x01;
    }
    let tampered = ::pem::encode(&::pem::Pem::new("CERTIFICATE REQUEST", tampered));
    // Two identities.
    let two = {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut p = rcgen::CertificateParams::default();
        p.subject_alt_names = vec![
            rcgen::SanType::URI(me.to_string().try_into().expect("uri")),
            rcgen::SanType::URI(
                "spiffe://cluster.local/ns/shop/sa/admin"
                    .try_into()
                    .expect("uri"),
            ),
        ];
        p.serialize_request(&key).expect("csr").pem().expect("pem")
    };
    let rsa1024 = openssl_csr(&[
        "-newkey",
        "rsa:1024",
        "-addext",
        &format!("subjectAltName=URI:{me}"),
    ]);
    let p521 = openssl_csr(&[
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
        "-addext",
        &format!("subjectAltName=URI:{me}"),
    ]);
    let dns = openssl_csr(&[
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-addext",
        "subjectAltName=DNS:web.shop",
    ]);
    let a_cert = ca.bundle().roots()[0].clone();

    type Case<'a> = (&'a str, String, SpiffeId, Duration, fn(&SignError) -> bool);
    let cases: Vec<Case<'_>> = vec![
        ("not PEM", "hello".into(), me.clone(), Duration::ZERO, |e| {
            matches!(e, SignError::Malformed(_))
        }),
        (
            "a certificate, not a CSR",
            a_cert,
            me.clone(),
            Duration::ZERO,
            |e| matches!(e, SignError::Malformed(_)),
        ),
        (
            "tampered signature",
            tampered,
            me.clone(),
            Duration::ZERO,
            |e| matches!(e, SignError::BadSignature | SignError::Malformed(_)),
        ),
        (
            "someone else's identity",
            good.clone(),
            id("shop", "admin"),
            Duration::ZERO,
            |e| matches!(e, SignError::NotCaller { .. }),
        ),
        ("two identities", two, me.clone(), Duration::ZERO, |e| {
            matches!(e, SignError::Identities(_))
        }),
        ("a DNS name", dns, me.clone(), Duration::ZERO, |e| {
            matches!(e, SignError::Identities(_))
        }),
        (
            "TTL over the cap",
            good.clone(),
            me.clone(),
            Duration::from_secs(7201),
            |e| matches!(e, SignError::TtlTooLong { .. }),
        ),
        ("RSA 1024", rsa1024, me.clone(), Duration::ZERO, |e| {
            matches!(e, SignError::UnsupportedKey(_))
        }),
        ("P-521", p521, me.clone(), Duration::ZERO, |e| {
            matches!(e, SignError::UnsupportedKey(_))
        }),
    ];
    let n = cases.len();
    for (what, csr, caller, ttl, expected) in cases {
        match ca.sign_csr(&csr, &caller, ttl) {
            Ok(_) => panic!("{what}: issued"),
            Err(e) => assert!(expected(&e), "{what}: wrong error {e:?}"),
        }
    }
    let metrics = ca.metrics();
    assert!(
        metrics.contains(&format!("citadel_server_csr_count {n}")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("citadel_server_csr_sign_error_count {n}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("citadel_server_success_cert_issuance_count 0"),
        "{metrics}"
    );
    // RSA 2048 is fine.
    let rsa2048 = openssl_csr(&[
        "-newkey",
        "rsa:2048",
        "-addext",
        &format!("subjectAltName=URI:{me}"),
    ]);
    let issued = ca
        .sign_csr(&rsa2048, &me, Duration::ZERO)
        .expect("RSA 2048 signed");
    assert!(openssl_verify(&ca.bundle().pem(), &issued.chain).0);
}

#[test]
fn verification_refuses_foreign_and_expired() {
    let ca = Ca::generate(CaOptions::new(td())).expect("ca");
    let other = Ca::generate(CaOptions::new(td())).expect("another ca");
    let me = id("shop", "web");
    let (_k, csr) = workload_csr(&me).expect("csr");
    let foreign = other
        .sign_csr(&csr, &me, Duration::from_secs(3600))
        .expect("signed");
    assert_eq!(
        ca.bundle().verify(&foreign.chain[..1], now()),
        Err(VerifyError::Untrusted)
    );
    assert!(!openssl_verify(&ca.bundle().pem(), &foreign.chain[..1]).0);
    let mine = ca
        .sign_csr(&csr, &me, Duration::from_secs(3600))
        .expect("signed");
    assert_eq!(
        ca.bundle()
            .verify(&mine.chain[..1], now() + ::time::Duration::hours(2)),
        Err(VerifyError::Expired)
    );
}

#[test]
fn root_rotation_keeps_both_roots_during_the_overlap() {
    let mut ca = Ca::generate(CaOptions::new(td())).expect("ca");
    let me = id("shop", "web");
    let (_k, csr) = workload_csr(&me).expect("csr");
    let old = ca
        .sign_csr(&csr, &me, Duration::from_secs(3600))
        .expect("signed");
    ca.rotate_root().expect("rotates");
    assert_eq!(ca.bundle().roots().len(), 2);
    let new = ca
        .sign_csr(&csr, &me, Duration::from_secs(3600))
        .expect("signed");
    assert_ne!(old.chain.last(), new.chain.last(), "signed by the new root");
    for c in [&old, &new] {
        assert_eq!(ca.bundle().verify(&c.chain[..1], now()), Ok(me.clone()));
        assert!(openssl_verify(&ca.bundle().pem(), &c.chain[..1]).0);
    }
    ca.retire_old_roots();
    assert_eq!(ca.bundle().roots().len(), 1);
    assert_eq!(
        ca.bundle().verify(&old.chain[..1], now()),
        Err(VerifyError::Untrusted)
    );
    assert_eq!(ca.bundle().verify(&new.chain[..1], now()), Ok(me));
}

/// The three steps: a new root trusted before it signs, then signing, then the old retired.
#[test]
fn root_rotation_in_three_steps() {
    let mut ca = Ca::generate(CaOptions::new(td())).expect("ca");
    let me = id("shop", "web");
    let (_k, csr) = workload_csr(&me).expect("csr");
    let sign = |ca: &Ca| {
        ca.sign_csr(&csr, &me, Duration::from_secs(3600))
            .expect("signed")
    };
    let before = sign(&ca);
    assert!(ca.activate_root().is_err(), "nothing to activate yet");
    ca.add_root().expect("adds");
    assert_eq!(ca.bundle().roots().len(), 2, "the new root is trusted");
    let added = sign(&ca);
    assert_eq!(
        added.chain.last(),
        before.chain.last(),
        "the old root still signs"
    );
    ca.activate_root().expect("activates");
    let after = sign(&ca);
    assert_ne!(
        after.chain.last(),
        before.chain.last(),
        "the new root signs"
    );
    assert_eq!(after.chain.last(), ca.bundle().roots().last());
    for c in [&before, &added, &after] {
        assert_eq!(ca.bundle().verify(&c.chain[..1], now()), Ok(me.clone()));
    }
    ca.retire_old_roots();
    assert_eq!(ca.bundle().roots().len(), 1);
    assert_eq!(
        ca.bundle().verify(&before.chain[..1], now()),
        Err(VerifyError::Untrusted)
    );
    assert_eq!(ca.bundle().verify(&after.chain[..1], now()), Ok(me));
}

#[test]
fn persisted_root_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::generate(CaOptions::new(td())).expect("ca");
    ca.save(dir.path()).expect("saves");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is private");
    }
    let again = Ca::load(dir.path(), CaOptions::new(td())).expect("loads");
    assert_eq!(again.bundle(), ca.bundle());
    let me = id("a", "b");
    let (_k, csr) = workload_csr(&me).expect("csr");
    let issued = again.sign_csr(&csr, &me, Duration::ZERO).expect("signed");
    assert_eq!(ca.bundle().verify(&issued.chain[..1], now()), Ok(me));
    // A key that is not the certificate's is refused.
    let (other_key, _) = workload_csr(&id("x", "y")).expect("key");
    std::fs::write(dir.path().join("ca-key.pem"), other_key.serialize_pem()).expect("write");
    assert!(Ca::load(dir.path(), CaOptions::new(td())).is_err());
}

#[test]
fn plugged_in_intermediate_from_cacerts() {
    // An offline root and an intermediate for this cluster, as Istio's plug-in CA docs set up.
    let root_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut root_params = rcgen::CertificateParams::default();
    root_params.distinguished_name = rcgen::DistinguishedName::new();
    root_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "offline root");
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let root = root_params.self_signed(&root_key).expect("root");
    let int_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut int_params = rcgen::CertificateParams::default();
    int_params.distinguished_name = rcgen::DistinguishedName::new();
    int_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cluster-1 intermediate");
    int_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    int_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let issuer = rcgen::Issuer::new(root_params.clone(), &root_key);
    let int = int_params
        .signed_by(&int_key, &issuer)
        .expect("intermediate");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca-cert.pem"), int.pem()).expect("write");
    std::fs::write(dir.path().join("ca-key.pem"), int_key.serialize_pem()).expect("write");
    std::fs::write(dir.path().join("root-cert.pem"), root.pem()).expect("write");
    std::fs::write(
        dir.path().join("cert-chain.pem"),
        format!("{}{}", int.pem(), root.pem()),
    )
    .expect("write");

    let ca = Ca::load(dir.path(), CaOptions::new(td())).expect("loads");
    let me = id("shop", "web");
    let (_k, csr) = workload_csr(&me).expect("csr");
    let issued = ca.sign_csr(&csr, &me, Duration::ZERO).expect("signed");
    assert_eq!(issued.chain.len(), 3, "leaf, intermediate, root");
    let (ok, text) = openssl_verify(&ca.bundle().pem(), &issued.chain[..2]);
    assert!(ok, "{text}");
    assert_eq!(ca.bundle().verify(&issued.chain[..2], now()), Ok(me));
}

/// Trust domain aliases: a caller authenticated in an alias trust domain (a migration) gets
/// its certificate in the CA's own trust domain, for its own workload only.
#[test]
fn trust_domain_aliases_let_old_identities_renew_into_the_new_domain() {
    let new_td = TrustDomain::new("new.example").expect("td");
    let old_td = TrustDomain::new("old.example").expect("td");
    let mut options = CaOptions::new(new_td.clone());
    options.trust_domain_aliases = vec![old_td.clone()];
    let ca = Ca::generate(options).expect("ca");
    let caller = SpiffeId::istio(&old_td, "shop", "web").expect("id");
    let wanted = caller.in_trust_domain(&new_td);
    let (_k, csr) = workload_csr(&wanted).expect("csr");
    let issued = ca
        .sign_csr(&csr, &caller, Duration::from_secs(600))
        .expect("signed into the new trust domain");
    assert_eq!(ca.bundle().verify(&issued.chain[..1], now()), Ok(wanted));
    // Another workload, or a trust domain that is neither, is still refused.
    let other = SpiffeId::istio(&new_td, "shop", "admin").expect("id");
    let (_k, csr) = workload_csr(&other).expect("csr");
    assert!(matches!(
        ca.sign_csr(&csr, &caller, Duration::ZERO),
        Err(SignError::NotCaller { .. })
    ));
    let stranger_td = TrustDomain::new("elsewhere.example").expect("td");
    let stranger = SpiffeId::istio(&stranger_td, "shop", "web").expect("id");
    let (_k, csr) = workload_csr(&caller.in_trust_domain(&new_td)).expect("csr");
    assert!(matches!(
        ca.sign_csr(&csr, &stranger, Duration::ZERO),
        Err(SignError::NotCaller { .. })
    ));
    // Without the alias, the old identity is a different one.
    let strict = Ca::generate(CaOptions::new(new_td)).expect("ca");
    assert!(matches!(
        strict.sign_csr(&csr, &caller, Duration::ZERO),
        Err(SignError::NotCaller { .. })
    ));
}
