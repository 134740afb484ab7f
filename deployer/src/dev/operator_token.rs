//! The operator credential of `mcpctl dev`: an RFC 7591 §3 initial access token that authorises
//! machine-client registration at `/dcr` (anonymous registration never gets client_credentials).
//!
//! It is kept in `--state-dir` (`initial-access-token`, mode 0600) so it survives restarts, and
//! also published for the running server's port under the user's runtime directory, so
//! `mcpctl register-client --url http://127.0.0.1:PORT/mcp --grant client_credentials` finds it
//! with no flag. `MCPCTL_INITIAL_ACCESS_TOKEN` overrides both (scripts that start the server).

use std::path::{Path, PathBuf};

use mcpctl_handler::oauth::registration::{
    MIN_INITIAL_ACCESS_TOKEN_LENGTH, check_initial_access_token,
};
use miette::{IntoDiagnostic, WrapErr, miette};

use super::state_dir::write_private;

/// The file name inside `--state-dir` and inside the per-port runtime directory.
pub(crate) const FILE: &str = "initial-access-token";
/// The variable that sets (for `mcpctl dev`) or supplies (for `register-client`) the token.
pub(crate) const ENV: &str = "MCPCTL_INITIAL_ACCESS_TOKEN";

/// Where the running dev server on `port` publishes its token: `$XDG_RUNTIME_DIR/mcpctl/dev-PORT`
/// or `$HOME/.cache/mcpctl/dev-PORT` (per user, never a shared temporary directory).
pub(crate) fn runtime_dir(port: u16) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(|d| PathBuf::from(d).join("mcpctl"))
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache").join("mcpctl"))
        })?;
    Some(base.join(format!("dev-{port}")))
}

/// The port of the `mcpctl dev` that `url` names, when it can be one: plain http on the address
/// dev binds, `127.0.0.1`. Not `localhost` or `[::1]`: another local user could listen on the
/// other address family of the same port and collect the token (RFC 8252 §8.3).
pub(crate) fn dev_port(url: &url::Url) -> Option<u16> {
    let dev_address =
        matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip == std::net::Ipv4Addr::LOCALHOST);
    (url.scheme() == "http" && dev_address)
        .then(|| url.port_or_known_default())
        .flatten()
}

/// The file next to the published token that names the process that published it.
const PID_FILE: &str = "pid";

/// Whether the dev server that published into `dir` is gone: its process no longer exists (a
/// server killed with SIGKILL leaves its file behind, and the port may be someone else's now).
/// Only decidable where `/proc` exists; elsewhere the file is trusted as before.
fn publisher_is_gone(dir: &Path) -> bool {
    let Ok(pid) = std::fs::read_to_string(dir.join(PID_FILE)) else {
        return false;
    };
    let proc = Path::new("/proc");
    proc.is_dir() && !proc.join(pid.trim()).exists()
}

/// Reads a token file, refusing a symlink or a file others may read: a token planted by another
/// user (or readable by one) is not the operator's.
fn read_private(file: &Path) -> std::io::Result<String> {
    let metadata = std::fs::symlink_metadata(file)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.file_type().is_symlink() || metadata.permissions().mode() & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the token file is a symlink or readable by others; delete it (a new one is written at the next start)",
            ));
        }
    }
    #[cfg(not(unix))]
    if metadata.file_type().is_symlink() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the token file is a symlink; delete it",
        ));
    }
    std::fs::read_to_string(file)
}

/// The library's rule for initial access tokens (the same a stage's secret must pass).
fn checked(token: String, source: &str) -> miette::Result<String> {
    check_initial_access_token(&token)
        .map(str::to_owned)
        .map_err(|reason| {
            miette!(
                help = format!(
                    "use at least {MIN_INITIAL_ACCESS_TOKEN_LENGTH} printable ASCII characters, e.g. `openssl rand -base64 32`"
                ),
                "the initial access token from {source} {reason}"
            )
        })
}

/// `MCPCTL_INITIAL_ACCESS_TOKEN`, read in one place so tests can pass it in instead.
fn from_environment() -> Option<String> {
    std::env::var(ENV).ok()
}

/// The token for a dev server: from `MCPCTL_INITIAL_ACCESS_TOKEN`, else kept in `state_dir`,
/// else new for this run.
pub(crate) fn load_or_create(state_dir: Option<&Path>) -> miette::Result<String> {
    load_or_create_with(from_environment(), state_dir)
}

fn load_or_create_with(
    environment: Option<String>,
    state_dir: Option<&Path>,
) -> miette::Result<String> {
    if let Some(value) = environment {
        return checked(value, ENV);
    }
    let Some(dir) = state_dir else {
        return new_token();
    };
    let file = dir.join(FILE);
    match read_private(&file) {
        Ok(value) => checked(value, &file.display().to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let token = new_token()?;
            write_private(&file, token.as_bytes())?;
            Ok(token)
        }
        Err(error) => Err(error)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read {}", file.display())),
    }
}

fn new_token() -> miette::Result<String> {
    mcpctl_handler::crypto::random_token(32)
        .into_diagnostic()
        .wrap_err("cannot generate the initial access token")
}

/// Publishes the token of the server on `port`; the returned guard removes it on drop.
pub(crate) fn publish(port: u16, token: &str) -> miette::Result<Published> {
    let Some(dir) = runtime_dir(port) else {
        return Ok(Published(None));
    };
    create_private_dir(&dir)?;
    let file = dir.join(FILE);
    // A file left by a server that was killed: this port is ours now.
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(dir.join(PID_FILE));
    write_private(
        &dir.join(PID_FILE),
        std::process::id().to_string().as_bytes(),
    )?;
    write_private(&file, token.as_bytes())?;
    Ok(Published(Some(file)))
}

fn create_private_dir(dir: &Path) -> miette::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot create {}", dir.display()))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).into_diagnostic()
    }
}

/// The published token file of a running dev server; removed when the server stops.
#[derive(Debug)]
pub(crate) struct Published(Option<PathBuf>);

impl Drop for Published {
    fn drop(&mut self) {
        if let Some(file) = &self.0 {
            let _ = std::fs::remove_file(file);
            if let Some(dir) = file.parent() {
                let _ = std::fs::remove_file(dir.join(PID_FILE));
            }
        }
    }
}

/// The token `register-client` presents: `MCPCTL_INITIAL_ACCESS_TOKEN`, else the file in
/// `state_dir`, else the one the dev server on `loopback_port` published.
pub(crate) fn find(
    state_dir: Option<&Path>,
    loopback_port: Option<u16>,
) -> miette::Result<Option<String>> {
    find_with(from_environment(), state_dir, loopback_port)
}

/// Like [`find`], for a command that may be pointed at anyone's server (`doctor`):
/// `MCPCTL_INITIAL_ACCESS_TOKEN` counts only when the server is the operator's own, a stage
/// (`url` is `None`) or `mcpctl dev` on 127.0.0.1. A token exported for one stage must not go
/// to the `/dcr` of a third party's server the operator happens to be checking.
pub(crate) fn find_for_own_server(
    state_dir: Option<&Path>,
    url: Option<&url::Url>,
) -> miette::Result<Option<String>> {
    let environment = for_own_server(from_environment(), url);
    find_with(environment, state_dir, url.and_then(dev_port))
}

/// The environment token, kept only when `url` is a stage's (`None`) or loopback dev's.
fn for_own_server(environment: Option<String>, url: Option<&url::Url>) -> Option<String> {
    environment.filter(|_| url.is_none_or(|url| dev_port(url).is_some()))
}

fn find_with(
    environment: Option<String>,
    state_dir: Option<&Path>,
    loopback_port: Option<u16>,
) -> miette::Result<Option<String>> {
    if let Some(value) = environment {
        return checked(value, ENV).map(Some);
    }
    let file = match (state_dir, loopback_port) {
        (Some(dir), _) => dir.join(FILE),
        (None, Some(port)) => match runtime_dir(port) {
            Some(dir) if publisher_is_gone(&dir) => {
                // Left by a dev server that was killed: not the token of whoever has the port now.
                let _ = std::fs::remove_file(dir.join(FILE));
                let _ = std::fs::remove_file(dir.join(PID_FILE));
                return Ok(None);
            }
            Some(dir) => dir.join(FILE),
            None => return Ok(None),
        },
        (None, None) => return Ok(None),
    };
    match read_private(&file) {
        Ok(value) => checked(value, &file.display().to_string()).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && state_dir.is_none() => {
            Ok(None)
        }
        Err(error) => Err(error)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read the initial access token {}", file.display())),
    }
}

/// Whether the operator token may go to `endpoint`, the registration endpoint the server at
/// `server` advertised: only to that server's own origin, and only over https or on loopback,
/// so a server (or a stale port) cannot collect it for another.
pub(crate) fn may_send(endpoint: &str, server: &url::Url) -> bool {
    let Ok(endpoint) = url::Url::parse(endpoint) else {
        return false;
    };
    let secure = endpoint.scheme() == "https" || dev_port(&endpoint).is_some();
    secure && endpoint.origin() == server.origin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_only_to_the_server_it_was_meant_for() {
        let local = url::Url::parse("http://127.0.0.1:8787/mcp").unwrap();
        assert!(may_send("http://127.0.0.1:8787/dcr", &local));
        assert!(!may_send("http://127.0.0.1:9999/dcr", &local));
        assert!(!may_send("https://collector.example/dcr", &local));
        let remote = url::Url::parse("https://mcp.example.com/prod/mcp").unwrap();
        assert!(may_send("https://mcp.example.com/prod/dcr", &remote));
        assert!(!may_send("http://mcp.example.com/prod/dcr", &remote));
        assert!(!may_send("not a url", &remote));
        // `localhost` may resolve to [::1], where another user can listen on the same port.
        let named = url::Url::parse("http://localhost:8787/mcp").unwrap();
        assert!(!may_send("http://localhost:8787/dcr", &named));
        assert_eq!(dev_port(&local), Some(8787));
        assert_eq!(dev_port(&named), None);
        assert_eq!(
            dev_port(&url::Url::parse("http://[::1]:8787/mcp").unwrap()),
            None
        );
        assert_eq!(dev_port(&remote), None);
    }

    #[test]
    fn a_checked_strangers_server_never_gets_the_environment_token() {
        let token = Some("a".repeat(40));
        let url = |s: &str| url::Url::parse(s).unwrap();
        // --stage: the stage's own URL comes from its stack outputs.
        assert_eq!(for_own_server(token.clone(), None), token);
        let dev = url("http://127.0.0.1:8787/mcp");
        assert_eq!(for_own_server(token.clone(), Some(&dev)), token);
        for stranger in [
            "https://mcp.example.com/mcp",
            "http://localhost:8787/mcp",
            "http://10.0.0.5:8787/mcp",
        ] {
            assert_eq!(
                for_own_server(token.clone(), Some(&url(stranger))),
                None,
                "{stranger}"
            );
        }
    }

    #[test]
    fn a_token_left_by_a_killed_server_is_not_trusted() {
        let dir = std::env::temp_dir().join(format!(
            "mcpctl-pid-{}",
            mcpctl_handler::crypto::random_token(6).unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // No pid file (an older mcpctl published it): trusted as before.
        assert!(!publisher_is_gone(&dir));
        std::fs::write(dir.join(PID_FILE), std::process::id().to_string()).unwrap();
        assert!(!publisher_is_gone(&dir));
        // Linux pids stay below 2^22.
        std::fs::write(dir.join(PID_FILE), "999999999").unwrap();
        assert_eq!(publisher_is_gone(&dir), Path::new("/proc").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn short_or_spaced_tokens_are_refused() {
        assert!(checked("short".into(), "test").is_err());
        assert!(checked(format!("{} x", "a".repeat(40)), "test").is_err());
        assert_eq!(
            checked(format!(" {}\n", "a".repeat(40)), "test").unwrap(),
            "a".repeat(40)
        );
    }

    #[test]
    fn a_state_dir_keeps_the_token_private_across_restarts() {
        let dir = std::env::temp_dir().join(format!(
            "mcpctl-iat-{}",
            mcpctl_handler::crypto::random_token(6).unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let first = load_or_create_with(None, Some(&dir)).unwrap();
        let second = load_or_create_with(None, Some(&dir)).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(find_with(None, Some(&dir), None).unwrap(), Some(first));
        // The environment wins over the file, and is checked like it.
        let set = "e".repeat(40);
        assert_eq!(
            find_with(Some(set.clone()), Some(&dir), None).unwrap(),
            Some(set)
        );
        assert!(find_with(Some("short".into()), Some(&dir), None).is_err());
        // A file others may read is not the operator's.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join(FILE), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            assert!(find_with(None, Some(&dir), None).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
