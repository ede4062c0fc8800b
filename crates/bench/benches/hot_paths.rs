//! Micro-benchmarks of the work every token or login request does: signing an ID token
//! (ES256, RS256), minting and digesting a 256-bit token, keyed hashing of short codes,
//! and argon2id password verification at pfid's default parameters.
//!
//! `cargo bench -p pfid-bench --bench hot_paths`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pfid_server::crypto::jose::{SigningAlg, SigningKey};
use pfid_server::oauth::id_token::IdTokenClaims;
use pfid_store::secret::{self, CodeHasher};
use pfid_store::PasswordHasher;

fn id_token(alg: SigningAlg) -> (SigningKey, impl Fn(&SigningKey) -> String) {
    let (key, _) = SigningKey::generate(alg).unwrap();
    let amr = vec!["pwd".to_owned()];
    let sign = move |key: &SigningKey| {
        let now = Utc::now();
        IdTokenClaims {
            issuer: "https://id.example.test",
            subject: "d2b7c7c6-1a6f-4a7e-9a57-2b1e6c1e2f3a",
            client_id: "kq3v6b3l1h2m0n9p8r7s6t",
            issued_at: now,
            expires_at: now + Duration::hours(1),
            auth_time: now,
            nonce: Some("n-0S6_WzA2Mj"),
            access_token: Some("pfat_Jq3Q2x0b7XkLh1mR5v9yT4sW8zC6nA2eF0gH3jK5lM7"),
            session_id: Some("e3b0c44298fc1c149afbf4c8996fb924"),
            amr: &amr,
        }
        .sign(key)
        .unwrap()
    };
    (key, sign)
}

fn signing(c: &mut Criterion) {
    for alg in [SigningAlg::Es256, SigningAlg::Rs256] {
        let (key, sign) = id_token(alg);
        c.bench_function(&format!("id_token_sign_{}", alg.as_str()), |b| {
            b.iter(|| black_box(sign(&key)))
        });
    }
}

fn tokens(c: &mut Criterion) {
    c.bench_function("access_token_new_and_digest", |b| {
        b.iter(|| {
            let t = secret::new_token("pfat_").unwrap();
            black_box(secret::digest(&t))
        })
    });
    let t = secret::new_token("pfat_").unwrap();
    c.bench_function("token_digest_sha256", |b| {
        b.iter(|| black_box(secret::digest(black_box(&t))))
    });
    let codes = CodeHasher::new(&[7u8; 32]);
    c.bench_function("code_new_and_hmac", |b| {
        b.iter(|| {
            let code = secret::new_token("").unwrap();
            black_box(codes.hash("authorization_code", &code))
        })
    });
}

fn passwords(c: &mut Criterion) {
    let hasher = PasswordHasher::new(19456, 2, 1).unwrap();
    let stored = hasher.hash("Bench-passw0rd").unwrap();
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("argon2id_verify_19MiB_t2", |b| {
        b.iter(|| black_box(hasher.verify(&stored, "Bench-passw0rd")))
    });
    group.finish();
}

criterion_group!(benches, signing, tokens, passwords);
criterion_main!(benches);
