//! The store contract: behaviours every implementation of the store traits must have. The
//! functions take [`Stores`], so the DynamoDB store runs the very same suite.

use std::sync::Arc;

use mcpctl_handler::{
    crypto::hash_secret,
    state::Stores,
    store::{
        AuthCodeRecord, ClientMetadata, ClientOrigin, ClientRecord, CodeTake, ConsentGrant,
        PendingSignIn, PendingTake, RefreshTokenKey, RefreshTokenRecord, Rotation, StoreError,
        UserClaims, memory::MemoryStore,
    },
};

const NOW: u64 = 1_800_000_000;

fn user() -> UserClaims {
    UserClaims {
        sub: "u1".into(),
        name: Some("U".into()),
        email: None,
        groups: vec!["g1".into(), "g2".into()],
    }
}

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        client_id: id.into(),
        secret_hash: Some(hash_secret("secret")),
        registration_token_hash: Some(hash_secret("rat")),
        metadata: ClientMetadata {
            redirect_uris: vec!["https://a.example/cb".into()],
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: "client_secret_basic".into(),
            scope: None,
            client_name: Some("A".into()),
            client_uri: None,
            logo_uri: None,
            contacts: vec![],
            software_id: None,
            software_version: None,
            application_type: None,
        },
        issued_at: NOW,
        origin: ClientOrigin::Operator,
    }
}

fn code(plain: &str, expires_at: u64) -> AuthCodeRecord {
    AuthCodeRecord {
        code_hash: hash_secret(plain),
        client_id: "c1".into(),
        redirect_uri: "https://a.example/cb".into(),
        code_challenge: "x".repeat(43),
        scope: "mcp".into(),
        resource: "https://as/mcp".into(),
        user: user(),
        issued_at: NOW,
        expires_at,
        used_at: None,
        family_id: None,
    }
}

fn taken(plain: &str, expires_at: u64, family: Option<&str>) -> CodeTake {
    CodeTake::Taken(Box::new(AuthCodeRecord {
        used_at: Some(NOW),
        family_id: family.map(str::to_owned),
        ..code(plain, expires_at)
    }))
}

fn key(plain: &str, family: &str) -> RefreshTokenKey {
    RefreshTokenKey {
        token_hash: hash_secret(plain),
        family_id: family.into(),
    }
}

fn refresh(plain: &str, family: &str, client_id: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: hash_secret(plain),
        family_id: family.into(),
        client_id: client_id.into(),
        user: user(),
        scope: "mcp".into(),
        resource: "https://as/mcp".into(),
        issued_at: NOW,
        family_started_at: Some(NOW),
        expires_at: NOW + 3600,
        rotated_at: None,
        successor_hash: None,
        revoked: false,
    }
}

pub async fn clients(stores: &Stores) {
    stores.clients.create(client("c1")).await.unwrap();
    assert!(matches!(
        stores.clients.create(client("c1")).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(stores.clients.get("c1").await.unwrap(), Some(client("c1")));
    assert_eq!(stores.clients.get("c2").await.unwrap(), None);
    assert!(stores.clients.delete("c1").await.unwrap());
    assert!(!stores.clients.delete("c1").await.unwrap());
    assert_eq!(stores.clients.get("c1").await.unwrap(), None);
}

pub async fn codes_are_single_use_and_expire(stores: &Stores) {
    stores.codes.put(code("a", NOW + 300)).await.unwrap();
    assert_eq!(
        stores
            .codes
            .take(&hash_secret("a"), NOW, Some("fam-a"))
            .await
            .unwrap(),
        taken("a", NOW + 300, Some("fam-a"))
    );
    assert_eq!(
        stores
            .codes
            .take(&hash_secret("a"), NOW + 1, Some("fam-other"))
            .await
            .unwrap(),
        CodeTake::Replayed {
            family_id: Some("fam-a".into())
        },
        "a replay names the family the first exchange started, and does not replace it"
    );
    assert_eq!(
        stores
            .codes
            .take(&hash_secret("a"), NOW + 2, None)
            .await
            .unwrap(),
        CodeTake::Replayed {
            family_id: Some("fam-a".into())
        },
    );
    stores.codes.put(code("b", NOW + 300)).await.unwrap();
    assert_eq!(
        stores
            .codes
            .take(&hash_secret("b"), NOW + 300, None)
            .await
            .unwrap(),
        CodeTake::Absent,
        "an expired code reads as absent"
    );
    assert_eq!(
        stores
            .codes
            .take(&hash_secret("never"), NOW, None)
            .await
            .unwrap(),
        CodeTake::Absent
    );
}

/// A replayed code's family revoked before its first exchange stored it: the store refuses it.
pub async fn a_family_revoked_ahead_cannot_be_stored(stores: &Stores) {
    let tokens = &stores.refresh_tokens;
    tokens
        .revoke_family_ahead("ahead", NOW + 600)
        .await
        .unwrap();
    assert!(matches!(
        tokens.put(refresh("a1", "ahead", "c1")).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(tokens.get(&key("a1", "ahead"), NOW).await.unwrap(), None);
    // On a stored family it is an ordinary revocation.
    tokens.put(refresh("b1", "stored", "c1")).await.unwrap();
    tokens
        .revoke_family_ahead("stored", NOW + 600)
        .await
        .unwrap();
    assert_eq!(tokens.get(&key("b1", "stored"), NOW).await.unwrap(), None);
}

pub async fn concurrent_takes_give_one_winner(stores: &Stores) {
    stores.codes.put(code("race", NOW + 300)).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let codes = stores.codes.clone();
            tokio::spawn(async move {
                matches!(
                    codes
                        .take(&hash_secret("race"), NOW, Some("f"))
                        .await
                        .unwrap(),
                    CodeTake::Taken(_)
                )
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
}

pub async fn rotation_grace_and_reuse(stores: &Stores) {
    let tokens = &stores.refresh_tokens;
    tokens.put(refresh("r1", "f1", "c1")).await.unwrap();
    assert!(tokens.get(&key("r1", "f1"), NOW).await.unwrap().is_some());
    assert_eq!(
        tokens.get(&key("r1", "f2"), NOW).await.unwrap(),
        None,
        "the family is part of the key"
    );
    assert_eq!(
        tokens.get(&key("r1", "f1"), NOW + 3600).await.unwrap(),
        None,
        "expired reads as absent"
    );

    let outcome = tokens
        .rotate(&key("r1", "f1"), refresh("r2", "f1", "c1"), NOW, 30)
        .await
        .unwrap();
    assert_eq!(outcome, Rotation::Rotated);
    assert!(tokens.get(&key("r2", "f1"), NOW).await.unwrap().is_some());
    let old = tokens.get(&key("r1", "f1"), NOW).await.unwrap().unwrap();
    assert_eq!(
        (old.rotated_at, old.successor_hash),
        (Some(NOW), Some(hash_secret("r2")))
    );
    // Replay inside the grace window with the same (derived) successor.
    assert_eq!(
        tokens
            .rotate(
                &key("r1", "f1"),
                RefreshTokenRecord {
                    scope: "mcp email".into(),
                    ..refresh("r2", "f1", "c1")
                },
                NOW + 10,
                30
            )
            .await
            .unwrap(),
        Rotation::GraceReplay {
            scope: "mcp".into()
        },
        "a grace replay answers with the stored successor's scope, not the replay's"
    );
    // Replay after the window: reuse, family revoked.
    assert_eq!(
        tokens
            .rotate(&key("r1", "f1"), refresh("r2", "f1", "c1"), NOW + 31, 30)
            .await
            .unwrap(),
        Rotation::ReuseDetected
    );
    assert_eq!(tokens.get(&key("r2", "f1"), NOW + 31).await.unwrap(), None);
    assert_eq!(
        tokens
            .rotate(&key("r2", "f1"), refresh("r3", "f1", "c1"), NOW + 32, 30)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert_eq!(
        tokens
            .rotate(&key("unknown", "f9"), refresh("r9", "f9", "c1"), NOW, 30)
            .await
            .unwrap(),
        Rotation::Invalid
    );
}

pub async fn replay_with_another_successor_is_reuse(stores: &Stores) {
    let tokens = &stores.refresh_tokens;
    tokens.put(refresh("t1", "m1", "c1")).await.unwrap();
    tokens
        .rotate(&key("t1", "m1"), refresh("t2", "m1", "c1"), NOW, 30)
        .await
        .unwrap();
    assert_eq!(
        tokens
            .rotate(&key("t1", "m1"), refresh("other", "m1", "c1"), NOW + 1, 30)
            .await
            .unwrap(),
        Rotation::ReuseDetected
    );
    assert_eq!(tokens.get(&key("t2", "m1"), NOW + 1).await.unwrap(), None);
}

pub async fn replay_after_successor_used_is_reuse(stores: &Stores) {
    let tokens = &stores.refresh_tokens;
    tokens.put(refresh("s1", "g1", "c1")).await.unwrap();
    tokens
        .rotate(&key("s1", "g1"), refresh("s2", "g1", "c1"), NOW, 30)
        .await
        .unwrap();
    tokens
        .rotate(&key("s2", "g1"), refresh("s3", "g1", "c1"), NOW + 1, 30)
        .await
        .unwrap();
    // s1's successor s2 is already rotated: no grace, this is reuse.
    assert_eq!(
        tokens
            .rotate(&key("s1", "g1"), refresh("s2", "g1", "c1"), NOW + 2, 30)
            .await
            .unwrap(),
        Rotation::ReuseDetected
    );
    assert_eq!(tokens.get(&key("s3", "g1"), NOW + 2).await.unwrap(), None);
}

pub async fn concurrent_rotations_give_one_successor(stores: &Stores) {
    stores
        .refresh_tokens
        .put(refresh("p1", "h1", "c1"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let tokens = stores.refresh_tokens.clone();
            tokio::spawn(async move {
                tokens
                    .rotate(&key("p1", "h1"), refresh("p2", "h1", "c1"), NOW, 30)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut rotated = 0;
    for task in tasks {
        match task.await.unwrap() {
            Rotation::Rotated => rotated += 1,
            Rotation::GraceReplay { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated, 1);
}

pub async fn revocation(stores: &Stores) {
    let tokens = &stores.refresh_tokens;
    tokens.put(refresh("q1", "k1", "c7")).await.unwrap();
    tokens.put(refresh("q9", "k9", "c8")).await.unwrap();
    tokens
        .rotate(&key("q1", "k1"), refresh("q2", "k1", "c7"), NOW, 30)
        .await
        .unwrap();
    tokens.revoke_family("k1").await.unwrap();
    assert_eq!(tokens.get(&key("q2", "k1"), NOW).await.unwrap(), None);
    assert_eq!(
        tokens
            .rotate(&key("q2", "k1"), refresh("q3", "k1", "c7"), NOW, 30)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert!(
        tokens.get(&key("q9", "k9"), NOW).await.unwrap().is_some(),
        "other families are untouched"
    );
    tokens.revoke_client("c8").await.unwrap();
    assert_eq!(tokens.get(&key("q9", "k9"), NOW).await.unwrap(), None);
}

/// Every contract check, each on a fresh set of tables from `make`.
fn pending(handle: &str, expires_at: u64) -> PendingSignIn {
    PendingSignIn {
        handle_hash: hash_secret(handle),
        browser_hash: hash_secret("browser"),
        client_id: "c1".into(),
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        code_challenge: "challenge".into(),
        scope: "mcp".into(),
        resource: "https://mcp.example/mcp".into(),
        state: Some("client-state".into()),
        user: Some(user()),
        created_at: NOW,
        expires_at,
    }
}

/// Pending sign-ins behave like codes (single use, atomic, expiring) and never collide with
/// codes in the table they share; remembered consents expire.
pub async fn sign_ins(stores: &Stores) {
    let sign_ins = &stores.sign_ins;
    let browser = hash_secret("browser");
    sign_ins.put_pending(pending("p", NOW + 600)).await.unwrap();
    assert!(matches!(
        sign_ins.put_pending(pending("p", NOW + 600)).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        stores
            .codes
            .take(&hash_secret("p"), NOW, None)
            .await
            .unwrap(),
        CodeTake::Absent,
        "a pending sign-in is not a code"
    );
    assert_eq!(
        sign_ins
            .take_pending(&hash_secret("p"), &hash_secret("another browser"), NOW)
            .await
            .unwrap(),
        PendingTake::OtherBrowser,
        "another browser cannot take it"
    );
    assert_eq!(
        sign_ins
            .take_pending(&hash_secret("p"), &browser, NOW)
            .await
            .unwrap(),
        PendingTake::Taken(Box::new(pending("p", NOW + 600))),
        "and did not burn it"
    );
    assert_eq!(
        sign_ins
            .take_pending(&hash_secret("p"), &browser, NOW)
            .await
            .unwrap(),
        PendingTake::Absent
    );
    sign_ins
        .put_pending(pending("old", NOW + 600))
        .await
        .unwrap();
    for who in [browser.as_str(), "someone else"] {
        assert_eq!(
            sign_ins
                .take_pending(&hash_secret("old"), who, NOW + 600)
                .await
                .unwrap(),
            PendingTake::Absent,
            "an expired pending sign-in reads as absent"
        );
    }

    sign_ins
        .put_pending(pending("race", NOW + 600))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let sign_ins = stores.sign_ins.clone();
            let browser = browser.clone();
            tokio::spawn(async move {
                matches!(
                    sign_ins
                        .take_pending(&hash_secret("race"), &browser, NOW)
                        .await
                        .unwrap(),
                    PendingTake::Taken(_)
                )
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1, "a pending sign-in is consumed exactly once");

    let grant = ConsentGrant {
        key_hash: hash_secret("u1\nc1"),
        client_id: Some("c1".into()),
        scope: "mcp email".into(),
        granted_at: NOW,
        expires_at: NOW + 100,
    };
    assert_eq!(sign_ins.consent(&grant.key_hash, NOW).await.unwrap(), None);
    sign_ins.remember_consent(grant.clone()).await.unwrap();
    assert_eq!(
        sign_ins.consent(&grant.key_hash, NOW).await.unwrap(),
        Some(grant.clone())
    );
    assert_eq!(
        sign_ins.consent(&grant.key_hash, NOW + 100).await.unwrap(),
        None,
        "an expired consent reads as absent"
    );
    let renewed = ConsentGrant {
        scope: "mcp".into(),
        expires_at: NOW + 500,
        ..grant.clone()
    };
    sign_ins.remember_consent(renewed.clone()).await.unwrap();
    assert_eq!(
        sign_ins.consent(&grant.key_hash, NOW + 200).await.unwrap(),
        Some(renewed)
    );

    // Deleting a client forgets its consents, and only its own.
    let other = ConsentGrant {
        key_hash: hash_secret("u1\nc2"),
        client_id: Some("c2".into()),
        ..grant.clone()
    };
    sign_ins.remember_consent(other.clone()).await.unwrap();
    sign_ins.forget_consents("c1").await.unwrap();
    assert_eq!(sign_ins.consent(&grant.key_hash, NOW).await.unwrap(), None);
    assert_eq!(
        sign_ins.consent(&other.key_hash, NOW).await.unwrap(),
        Some(other)
    );
}

pub async fn run_all<F: std::future::Future<Output = Stores>>(make: impl Fn() -> F) {
    clients(&make().await).await;
    codes_are_single_use_and_expire(&make().await).await;
    concurrent_takes_give_one_winner(&make().await).await;
    a_family_revoked_ahead_cannot_be_stored(&make().await).await;
    rotation_grace_and_reuse(&make().await).await;
    replay_with_another_successor_is_reuse(&make().await).await;
    replay_after_successor_used_is_reuse(&make().await).await;
    concurrent_rotations_give_one_successor(&make().await).await;
    revocation(&make().await).await;
    sign_ins(&make().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_meets_the_contract() {
    run_all(|| async { Stores::memory(Arc::new(MemoryStore::new())) }).await;
}

#[tokio::test]
async fn persistent_memory_store_survives_a_restart_and_stores_only_hashes() {
    let dir = std::env::temp_dir().join(format!(
        "mcpctl-store-{}",
        mcpctl_handler::crypto::random_token(6).unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("store.json");
    {
        let stores = Stores::memory(Arc::new(MemoryStore::persistent(&file).unwrap()));
        stores.clients.create(client("c1")).await.unwrap();
        stores
            .refresh_tokens
            .put(refresh("plain-refresh-token", "f", "c1"))
            .await
            .unwrap();
        stores
            .codes
            .put(code("plain-code", NOW + 300))
            .await
            .unwrap();
    }
    let dump = std::fs::read_to_string(&file).unwrap();
    for secret in ["plain-refresh-token", "plain-code", "\"secret\"", "\"rat\""] {
        assert!(!dump.contains(secret), "the snapshot contains {secret}");
    }
    let stores = Stores::memory(Arc::new(MemoryStore::persistent(&file).unwrap()));
    assert!(stores.clients.get("c1").await.unwrap().is_some());
    assert!(
        stores
            .refresh_tokens
            .get(&key("plain-refresh-token", "f"), NOW)
            .await
            .unwrap()
            .is_some()
    );
    std::fs::write(&file, "garbage").unwrap();
    assert!(MemoryStore::persistent(&file).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
