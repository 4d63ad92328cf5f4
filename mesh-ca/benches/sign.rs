//! CSR signing throughput against the raw ECDSA P-256 signing rate of the same backend (ring)
//! in the same run. Figures go in `docs/perf.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mesh_ca::{Ca, CaOptions, SpiffeId, TrustDomain, workload_csr};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

fn bench(c: &mut Criterion) {
    let td = TrustDomain::new("cluster.local").expect("td");
    let ca = Ca::generate(CaOptions::new(td.clone())).expect("ca");
    let id = SpiffeId::istio(&td, "shop", "web").expect("id");
    let (_key, csr) = workload_csr(&id).expect("csr");
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .expect("key");
    let message = [7u8; 300];

    // Plain rates over 3 s each, printed for docs/perf.md.
    let rate = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(3) {
            f();
            n += 1;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let raw = rate(&mut || {
        black_box(key.sign(&rng, &message).expect("signs"));
    });
    let csrs = rate(&mut || {
        black_box(
            ca.sign_csr(&csr, &id, Duration::from_secs(3600))
                .expect("signs"),
        );
    });
    // Verifying the CSR's own signature is part of every signing (and an ECDSA verification
    // costs more than a signature): measure it alone too.
    let ver_pk = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        ring::signature::KeyPair::public_key(&key).as_ref().to_vec(),
    );
    let sig = key.sign(&rng, &message).expect("signs");
    let verify = rate(&mut || {
        black_box(ver_pk.verify(&message, sig.as_ref()).is_ok());
    });
    eprintln!(
        "raw ECDSA P-256 signatures: {raw:.0}/s; verifications: {verify:.0}/s; CSRs signed: {csrs:.0}/s ({:.0}% of raw signing; the floor of verify+sign is {:.0}/s)",
        100.0 * csrs / raw,
        1.0 / (1.0 / raw + 1.0 / verify)
    );

    let mut group = c.benchmark_group("ca");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("raw ECDSA P-256 sign (ring)", |b| {
        b.iter(|| black_box(key.sign(&rng, &message).expect("signs")));
    });
    group.bench_function("sign a workload CSR", |b| {
        b.iter(|| {
            black_box(
                ca.sign_csr(&csr, &id, Duration::from_secs(3600))
                    .expect("signs"),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
