//! `--state-dir`: signing keys and the store snapshot on disk, so a client's registration and
//! tokens keep working across restarts while you iterate.

use std::path::Path;

use mcpctl_handler::{
    keys::{KeyMaterial, SigningSecret, StoredKeys},
    store::memory::MemoryStore,
};
use miette::{IntoDiagnostic, WrapErr, miette};

/// Loads (or creates) `keys.json` and `store.json` in `dir`.
pub(crate) fn load(dir: &Path) -> miette::Result<(KeyMaterial, MemoryStore)> {
    std::fs::create_dir_all(dir)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create the state directory {}", dir.display()))?;
    let keys_file = dir.join("keys.json");
    // The stack's secret format: the keys of a first start, plus what `mcpctl keys rotate
    // --state-dir` adds (retired keys whose tokens still verify).
    let stored: SigningSecret = match std::fs::read(&keys_file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            miette!(
                help = format!(
                    "delete {} to generate new keys (existing tokens stop working)",
                    keys_file.display()
                ),
                "{} is not a valid key file: {e}",
                keys_file.display()
            )
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let stored = StoredKeys::generate()
                .into_diagnostic()
                .wrap_err("cannot generate a signing key")?;
            write_private(
                &keys_file,
                &serde_json::to_vec_pretty(&stored).into_diagnostic()?,
            )?;
            SigningSecret::new(stored)
        }
        Err(error) => {
            return Err(error)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot read {}", keys_file.display()));
        }
    };
    let keys: KeyMaterial = stored.key_material().map_err(|e| {
        miette!(
            help = format!("delete {} to generate new keys", keys_file.display()),
            "{}: {e}",
            keys_file.display()
        )
    })?;
    let store = MemoryStore::persistent(&dir.join("store.json")).map_err(|e| miette!("{e}"))?;
    Ok((keys, store))
}

/// Writes a file readable only by its owner (it holds the private key).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> miette::Result<()> {
    #[cfg(unix)]
    {
        use std::{io::Write, os::unix::fs::OpenOptionsExt};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot create {}", path.display()))?;
        file.write_all(bytes).into_diagnostic()
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes).into_diagnostic()
    }
}
