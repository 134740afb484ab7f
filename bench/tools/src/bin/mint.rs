//! `mint`: prepares a `mcpctl dev --state-dir` directory and an access token for it, before any
//! server is started, so the cold-start timer can send an authenticated request immediately.
//!
//! Usage: `mint STATE_DIR PORT [PORT...]`
//!
//! - `STATE_DIR/keys.json`: created with `StoredKeys::generate()` if missing (same format and
//!   mode 0600 as `mcpctl dev` writes it), otherwise reused.
//! - `STATE_DIR/token-PORT.txt`: an ES256 access token signed with `mcpctl_handler::oauth::jwt::sign`,
//!   issuer `http://127.0.0.1:PORT`, audience `http://127.0.0.1:PORT/mcp`, scope `mcp`, valid
//!   for 24 hours.
//! - `STATE_DIR/jwks.json`: the public key as a JWKS document (read by the bare-rmcp baseline).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use mcp_bench_tools::bench_token;
use mcpctl_handler::{
    keys::{KeyMaterial, StoredKeys},
    oauth::jwt,
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mint: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: mint STATE_DIR PORT [PORT...]")?);
    let ports: Vec<u16> = args
        .map(|p| p.parse().map_err(|e| format!("bad port {p}: {e}")))
        .collect::<Result<_, _>>()?;
    if ports.is_empty() {
        return Err("usage: mint STATE_DIR PORT [PORT...]".into());
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stored = load_or_create(&dir.join("keys.json"))?;
    let keys = KeyMaterial::from_stored(&stored).map_err(|e| e.to_string())?;

    let now = mcpctl_handler::clock::Clock::now(&mcpctl_handler::clock::SystemClock);
    for port in ports {
        let issuer = format!("http://127.0.0.1:{port}");
        let (claims, token) = bench_token(
            &keys,
            &issuer,
            now,
            24 * 3600,
            format!("bench-{port}-{now}"),
        )?;
        // Self-check with the server's own verifier, so a bad token fails here and not mid-run.
        jwt::verify(&keys.verifying, &token, &claims.iss, &claims.aud, now)
            .map_err(|e| format!("the minted token does not verify: {e}"))?;
        write(&dir.join(format!("token-{port}.txt")), token.as_bytes())?;
    }
    let jwks = keys.verifying.jwks().to_string();
    write(&dir.join("jwks.json"), jwks.as_bytes())?;
    Ok(())
}

fn load_or_create(file: &Path) -> Result<StoredKeys, String> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let stored = StoredKeys::generate().map_err(|e| e.to_string())?;
            let bytes = serde_json::to_vec_pretty(&stored).map_err(|e| e.to_string())?;
            write_private(file, &bytes)?;
            Ok(stored)
        }
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}
