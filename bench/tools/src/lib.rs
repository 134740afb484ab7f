//! What the bench tools share: the access token every load run sends.

use mcpctl_handler::{
    keys::KeyMaterial,
    oauth::jwt::{self, AccessClaims, SubjectKind},
};

/// An ES256 access token for `issuer` (audience `{issuer}/mcp`, scope `mcp`, the machine client
/// `bench-client`), valid for `ttl_seconds` from `now` and signed with `keys`' local key; with
/// its claims.
pub fn bench_token(
    keys: &KeyMaterial,
    issuer: &str,
    now: u64,
    ttl_seconds: u64,
    jti: String,
) -> Result<(AccessClaims, String), String> {
    let signing = keys.signing.as_ref().ok_or("no signing key")?;
    let claims = AccessClaims {
        aud: format!("{issuer}/mcp"),
        iss: issuer.to_owned(),
        sub: "bench-client".into(),
        exp: now + ttl_seconds,
        iat: now,
        nbf: now,
        jti,
        client_id: "bench-client".into(),
        kind: SubjectKind::Machine,
        scope: "mcp".into(),
        name: None,
        email: None,
        groups: Vec::new(),
    };
    let token = jwt::sign(signing.local().ok_or("the key is not local")?, &claims)
        .map_err(|e| e.to_string())?;
    Ok((claims, token))
}
