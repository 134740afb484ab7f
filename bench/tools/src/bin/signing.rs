//! `signing`: what `signing: kms` costs on the token path, against a local key.
//!
//! Usage: `signing N` with `AWS_ENDPOINT_URL` (moto: `bench/signing.sh` starts one) or real AWS
//! credentials in the environment. Signs the same access-token claims N times with a local
//! P-256 key (`jwt::sign`, what `signing: secret` does) and N times through KMS (`jwt::sign_with`
//! over `KmsSigner`, what `signing: kms` does), checks every token against its JWKS, and prints
//! one JSON line with the median and p99 of each, in microseconds.

use std::{process::ExitCode, sync::Arc, time::Instant};

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use mcpctl_handler::{
    keys::{KmsSigner, RemoteKey, SigningKey, TokenSigner, VerifyingKeys, p256_jwk_from_spki},
    oauth::jwt::{self, AccessClaims, SubjectKind},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("signing: {message}");
            ExitCode::from(2)
        }
    }
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://bench.example".into(),
        sub: "bench-user".into(),
        aud: "https://bench.example/mcp".into(),
        exp: 2_000_000_000,
        iat: 1_700_000_000,
        nbf: 1_700_000_000,
        jti: "bench".into(),
        client_id: "bench-client".into(),
        kind: SubjectKind::Person,
        scope: "mcp".into(),
        name: Some("Bench User".into()),
        email: Some("bench@example.com".into()),
        groups: vec!["staff".into()],
    }
}

/// Median and p99 of `samples` (microseconds).
fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

async fn run() -> Result<(), String> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or("usage: signing N (N > 0 tokens per signer)")?;
    let claims = claims();
    let verify = |keys: &VerifyingKeys, token: &str| {
        jwt::verify(keys, token, &claims.iss, &claims.aud, 1_800_000_000)
            .map(drop)
            .map_err(|e| format!("a benchmark token does not verify: {e}"))
    };

    let local = SigningKey::generate().map_err(|e| e.to_string())?;
    let local_keys =
        VerifyingKeys::from_jwks(vec![local.public_jwk().clone()]).map_err(|e| e.to_string())?;
    let mut local_us = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let token = jwt::sign(&local, &claims).map_err(|e| e.to_string())?;
        local_us.push(started.elapsed().as_secs_f64() * 1e6);
        verify(&local_keys, &token)?;
    }

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key_arn = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .description("mcpctl bench: signing cost probe (schedule for deletion when done)")
        .send()
        .await
        .map_err(|e| format!("CreateKey: {}", aws_sdk_kms::error::DisplayErrorContext(e)))?
        .key_metadata
        .and_then(|m| m.arn)
        .ok_or("CreateKey returned no ARN")?;
    let spki = kms
        .get_public_key()
        .key_id(&key_arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetPublicKey: {}",
                aws_sdk_kms::error::DisplayErrorContext(e)
            )
        })?
        .public_key
        .ok_or("GetPublicKey returned no key")?;
    let public = p256_jwk_from_spki(spki.as_ref()).map_err(|e| e.to_string())?;
    let remote_keys = VerifyingKeys::from_jwks(vec![public.clone()]).map_err(|e| e.to_string())?;
    let remote = TokenSigner::Remote(RemoteKey::new(
        public,
        Arc::new(KmsSigner::new(kms.clone(), key_arn.clone())),
    ));
    let mut kms_us = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let token = jwt::sign_with(&remote, &claims)
            .await
            .map_err(|e| e.to_string())?;
        kms_us.push(started.elapsed().as_secs_f64() * 1e6);
        verify(&remote_keys, &token)?;
    }
    let _ = kms
        .schedule_key_deletion()
        .key_id(key_arn.rsplit('/').next().unwrap_or(&key_arn))
        .pending_window_in_days(7)
        .send()
        .await;

    let (local_p50, local_p99) = percentiles(local_us);
    let (kms_p50, kms_p99) = percentiles(kms_us);
    println!(
        "{}",
        serde_json::json!({
            "tokens": n,
            "endpoint": std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "aws".into()),
            "local_sign_us": {"p50": local_p50, "p99": local_p99},
            "kms_sign_us": {"p50": kms_p50, "p99": kms_p99},
            "kms_usd_per_million_tokens": 15.0,
        })
    );
    Ok(())
}
