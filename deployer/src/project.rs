//! The server crate a command works on: the user's own crate (a package with a `bin` and a
//! direct `mcpctl-handler` dependency), found from `--manifest-path` or by walking up from the
//! current directory as cargo does, and read through `cargo metadata` so workspaces, renamed
//! target directories and `.cargo/config.toml` are cargo's business, not ours.
//!
//! Inside the mcpctl repository itself (outside any server crate) the project is the built-in
//! example, so `mcpctl build` and the tests run from the repository root keep working.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use miette::{IntoDiagnostic, miette};
use serde::Deserialize;

use crate::stage;

/// The package of the built-in example: the server `mcpctl` builds and deploys inside its own
/// repository. One constant, so switching the built-in server is one line.
const BUILTIN_PACKAGE: &str = "example-hello";
/// Its bin target.
const BUILTIN_BIN: &str = "bootstrap";
/// Its directory, relative to the repository root.
const BUILTIN_DIR: &str = "examples/hello";

/// The dependency that makes a crate an mcpctl server.
const HANDLER_PACKAGE: &str = "mcpctl-handler";

/// Lambda's name for a custom runtime's executable: the preferred bin of a server crate.
const PREFERRED_BIN: &str = "bootstrap";

/// `--manifest-path`, shared by the commands that work on a server crate.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ProjectArgs {
    /// Path to the server crate's Cargo.toml; default: found by walking up from the current
    /// directory, as cargo does.
    #[arg(long, value_name = "PATH", global = true)]
    pub(crate) manifest_path: Option<PathBuf>,
}

impl ProjectArgs {
    /// The project, if there is one (see [`Project::find`]).
    pub(crate) fn find(&self) -> miette::Result<Option<Project>> {
        Project::find(self.manifest_path.as_deref())
    }

    /// The project, or an error saying how to point at one (see [`Project::require`]).
    pub(crate) fn require(&self) -> miette::Result<Project> {
        Project::require(self.manifest_path.as_deref())
    }

    /// The stage configuration directory: `explicit` (`--config-dir`) when given, else the
    /// project's `config/`, else `./config` (the default before projects existed).
    pub(crate) fn config_dir(&self, explicit: Option<&Path>) -> miette::Result<PathBuf> {
        match explicit {
            Some(dir) => Ok(dir.to_owned()),
            None => Ok(config_dir(None, self.find()?.as_ref())),
        }
    }

    /// The project for a command that needs it only for what the flags leave out: the config
    /// directory (`--config-dir`) or the artifact (`--artifact`); with both given no crate is read.
    /// Returns the config directory to use and the project, if one was read.
    #[cfg(feature = "aws")]
    pub(crate) fn for_missing(
        &self,
        config_dir: Option<&Path>,
        artifact: Option<&Path>,
    ) -> miette::Result<(PathBuf, Option<Project>)> {
        let project = if config_dir.is_none() || artifact.is_none() {
            self.find()?
        } else {
            None
        };
        Ok((self::config_dir(config_dir, project.as_ref()), project))
    }

    /// For the commands that reach a deployed stage by its stack (logs, smoke-test, clients,
    /// register-client): without `--stack-name`, the stack name written in the project's
    /// `config/<stage>.yaml`, so a crate made by `mcpctl new` finds its `<name>-<stage>` stack.
    /// Without a project or that file, the stack stays the default `mcpctl-<stage>`.
    pub(crate) fn fill_stack_name(
        &self,
        target: &mut crate::target::StageArgs,
    ) -> miette::Result<()> {
        let Some(stage_name) = &target.stage else {
            return Ok(());
        };
        if target.stack_name.is_some() {
            return Ok(());
        }
        let Some(project) = self.find()? else {
            return Ok(());
        };
        if !project
            .config_dir
            .join(format!("{stage_name}.yaml"))
            .is_file()
        {
            return Ok(());
        }
        let config = stage::load(&project.config_dir, stage_name, &stage::env_overrides())?;
        target.stack_name = Some(config.stack_name);
        Ok(())
    }
}

/// `--config-dir` when given, else the project's `config/`, else `./config`. The project's is
/// shown relative to the current directory when it is below it (`config/dev.yaml` in messages,
/// as before projects existed).
pub(crate) fn config_dir(explicit: Option<&Path>, project: Option<&Project>) -> PathBuf {
    match (explicit, project) {
        (Some(dir), _) => dir.to_owned(),
        (None, Some(project)) => std::env::current_dir()
            .ok()
            .and_then(|cwd| project.config_dir.strip_prefix(cwd).ok())
            .filter(|relative| !relative.as_os_str().is_empty())
            .map_or_else(|| project.config_dir.clone(), Path::to_path_buf),
        (None, None) => PathBuf::from(stage::DEFAULT_CONFIG_DIR),
    }
}

/// A server crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Project {
    /// The manifest to give cargo (`--manifest-path`, with `--package`): the crate's own
    /// Cargo.toml, or the repository's root manifest for the built-in example.
    pub(crate) manifest: PathBuf,
    /// The crate's directory.
    pub(crate) root: PathBuf,
    /// The package name (`--package`).
    pub(crate) package: String,
    /// The bin target that is the Lambda `bootstrap` (`--bin`).
    pub(crate) bin: String,
    /// cargo's target directory for it (`target_directory` of `cargo metadata`).
    pub(crate) target_dir: PathBuf,
    /// The root of the cargo workspace the crate is in (the crate itself when standalone).
    pub(crate) workspace_root: PathBuf,
    /// Where its stage files live: `<root>/config`.
    pub(crate) config_dir: PathBuf,
    /// The built-in example of the mcpctl repository, not a user's crate.
    pub(crate) builtin: bool,
}

impl Project {
    /// Finds the project: the manifest is `manifest_path`, or the nearest Cargo.toml walking up
    /// from the current directory. `Ok(None)` when there is no Cargo.toml at all, or the one
    /// found is not a server crate (and not the mcpctl repository); an explicit `manifest_path`
    /// that is not a server crate is an error saying why.
    pub(crate) fn find(manifest_path: Option<&Path>) -> miette::Result<Option<Self>> {
        let cwd = std::env::current_dir().into_diagnostic()?;
        find_from(&cwd, manifest_path)
    }

    /// [`Project::find`], with "not found" as an error naming the way out: for the commands
    /// that build the crate.
    pub(crate) fn require(manifest_path: Option<&Path>) -> miette::Result<Self> {
        let cwd = std::env::current_dir().into_diagnostic()?;
        find_from(&cwd, manifest_path)?.ok_or_else(|| not_found(&cwd))
    }
}

/// The config directory of the mcpctl repository when the nearest manifest from the current
/// directory is its root, found without running cargo: `mcpctl dev` there serves the built-in
/// example in-process and needs nothing `cargo metadata` says, which costs ~20 ms, most of the
/// dev server's cold start.
pub(crate) fn repository_root_config_dir() -> Option<PathBuf> {
    repository_root_config_dir_from(&std::env::current_dir().ok()?)
}

fn repository_root_config_dir_from(cwd: &Path) -> Option<PathBuf> {
    let manifest = nearest_manifest(cwd)?;
    let root = manifest.parent()?;
    let text = std::fs::read_to_string(&manifest).ok()?;
    let handler = std::fs::read_to_string(root.join("handler/Cargo.toml")).ok()?;
    let is_root = text.contains("[workspace]")
        && !text.contains("[package]")
        && handler.contains(&format!("name = \"{HANDLER_PACKAGE}\""))
        && root.join(BUILTIN_DIR).join("Cargo.toml").is_file();
    is_root.then(|| root.join(stage::DEFAULT_CONFIG_DIR))
}

/// The error of a command that needs a server crate and found none from `cwd`.
pub(crate) fn not_found(cwd: &Path) -> miette::Report {
    miette!(
        help = "run inside a crate created by `mcpctl new NAME`, or pass --manifest-path PATH/Cargo.toml",
        "no mcpctl server crate found from {}",
        cwd.display()
    )
}

/// [`Project::find`] from `cwd` (a parameter, so tests need not change the process's cwd).
fn find_from(cwd: &Path, manifest_path: Option<&Path>) -> miette::Result<Option<Project>> {
    let (manifest, explicit) = match manifest_path {
        Some(path) => {
            let path = cwd.join(path);
            if !path.is_file() {
                return Err(miette!(
                    help = "pass the path of a crate's Cargo.toml (the file, not its directory)",
                    "--manifest-path {}: no such file",
                    path.display()
                ));
            }
            (path, true)
        }
        None => match nearest_manifest(cwd) {
            Some(path) => (path, false),
            None => return Ok(None),
        },
    };
    let metadata = cargo_metadata(&manifest)?;
    from_metadata(&manifest, explicit, metadata)
}

/// The nearest `Cargo.toml` in `dir` or above, as cargo looks for one.
fn nearest_manifest(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|dir| dir.join("Cargo.toml"))
        .find(|path| path.is_file())
}

/// What `cargo metadata --format-version 1 --no-deps` says, as far as we read it.
#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    name: String,
    /// `None` for a normal dependency, `dev` or `build` otherwise.
    kind: Option<String>,
}

fn cargo_metadata(manifest: &Path) -> miette::Result<Metadata> {
    let shown = manifest.display();
    // Run where the crate is, as `cargo lambda build` is: cargo reads `.cargo/config.toml`
    // (target-dir and the like) from the current directory, not from the manifest's.
    let directory = manifest.parent().unwrap_or(Path::new("."));
    let output = Command::new("cargo")
        .current_dir(directory)
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(manifest)
        .output()
        .map_err(|error| {
            miette!(
                help = "install Rust with rustup (https://rustup.rs) so `cargo` is on PATH, or pass --config-dir (and --artifact ZIP) so no crate needs reading",
                "cannot run `cargo metadata` to read {shown}: {error}"
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(8)
            .collect();
        return Err(miette!(
            help = format!(
                "fix {shown} (`cargo metadata --manifest-path {shown}` shows the whole error), or pass --manifest-path to another crate"
            ),
            "cargo cannot read {shown}:\n{}",
            reason.join("\n")
        ));
    }
    serde_json::from_slice(&output.stdout)
        .into_diagnostic()
        .map_err(|error| miette!("cannot parse `cargo metadata` for {shown}: {error}"))
}

/// Why a package is not a server crate.
#[derive(Debug, PartialEq, Eq)]
enum NotServer {
    NoHandlerDependency,
    NoBin,
    /// Several bins, none named `bootstrap`: a server crate, but which bin is the Lambda's?
    AmbiguousBins(Vec<String>),
    /// The `mcpctl` CLI itself: it has a bin and depends on mcpctl-handler, but serves nothing.
    TheCli,
}

/// The bin of a server crate, or why `package` is not one.
fn server_bin(package: &Package) -> Result<String, NotServer> {
    let depends = package
        .dependencies
        .iter()
        .any(|d| d.name == HANDLER_PACKAGE && d.kind.is_none());
    if !depends {
        return Err(NotServer::NoHandlerDependency);
    }
    let bins: Vec<&str> = package
        .targets
        .iter()
        .filter(|t| t.kind.iter().any(|k| k == "bin"))
        .map(|t| t.name.as_str())
        .collect();
    match bins.as_slice() {
        [] => Err(NotServer::NoBin),
        [only] => Ok((*only).to_owned()),
        several if several.contains(&PREFERRED_BIN) => Ok(PREFERRED_BIN.to_owned()),
        several => Err(NotServer::AmbiguousBins(
            several.iter().map(|s| (*s).to_owned()).collect(),
        )),
    }
}

fn ambiguous_bins(package: &str, bins: &[String]) -> miette::Report {
    miette!(
        help = "name the Lambda's bin `bootstrap` ([[bin]] name = \"bootstrap\" in Cargo.toml): mcpctl builds that one",
        "package {package} has several bins ({}) and none is named `bootstrap`",
        bins.join(", ")
    )
}

/// Paths as cargo reports them may differ from ours by symlinks (macOS /var → /private/var).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn from_metadata(
    manifest: &Path,
    explicit: bool,
    metadata: Metadata,
) -> miette::Result<Option<Project>> {
    // `--no-deps` lists the workspace members only: a member named mcpctl-handler means this
    // is the mcpctl repository (a user's crate depends on it, but never has it as a member).
    let in_mcpctl_repo = metadata.packages.iter().any(|p| p.name == HANDLER_PACKAGE);
    let classify = |package: &Package| {
        if in_mcpctl_repo && package.name == env!("CARGO_PKG_NAME") {
            Err(NotServer::TheCli)
        } else {
            server_bin(package)
        }
    };
    let project = |package: &Package, bin: String| {
        let root = package
            .manifest_path
            .parent()
            .map_or_else(|| metadata.workspace_root.clone(), Path::to_path_buf);
        // An example crate inside the mcpctl repository shares the repository's stages.
        let own_config = root.join(stage::DEFAULT_CONFIG_DIR);
        let config_dir = if in_mcpctl_repo && !own_config.is_dir() {
            metadata.workspace_root.join(stage::DEFAULT_CONFIG_DIR)
        } else {
            own_config
        };
        Project {
            manifest: package.manifest_path.clone(),
            root,
            package: package.name.clone(),
            bin,
            target_dir: metadata.target_directory.clone(),
            workspace_root: metadata.workspace_root.clone(),
            config_dir,
            builtin: false,
        }
    };
    let builtin = || Project {
        manifest: metadata.workspace_root.join("Cargo.toml"),
        root: metadata.workspace_root.join(BUILTIN_DIR),
        package: BUILTIN_PACKAGE.to_owned(),
        bin: BUILTIN_BIN.to_owned(),
        target_dir: metadata.target_directory.clone(),
        workspace_root: metadata.workspace_root.clone(),
        config_dir: metadata.workspace_root.join(stage::DEFAULT_CONFIG_DIR),
        builtin: true,
    };
    let shown = manifest.display();
    if let Some(package) = metadata
        .packages
        .iter()
        .find(|p| same_file(&p.manifest_path, manifest))
    {
        return match classify(package) {
            Ok(bin) => Ok(Some(project(package, bin))),
            Err(NotServer::AmbiguousBins(bins)) => Err(ambiguous_bins(&package.name, &bins)),
            Err(_) if in_mcpctl_repo => Ok(Some(builtin())),
            Err(reason) if explicit => Err(match reason {
                NotServer::NoHandlerDependency => miette!(
                    help = "add `mcpctl-handler` to its [dependencies], or create a server crate with `mcpctl new NAME`",
                    "{shown} is not an mcpctl server crate: package {} does not depend on mcpctl-handler",
                    package.name
                ),
                _ => miette!(
                    help = "add a [[bin]] (name = \"bootstrap\", path = \"src/main.rs\") whose main calls mcpctl_handler::run",
                    "{shown} is not an mcpctl server crate: package {} has no bin target",
                    package.name
                ),
            }),
            Err(_) => Ok(None),
        };
    }
    // A workspace root without a package of its own: its one server member, if it has one.
    if in_mcpctl_repo {
        return Ok(Some(builtin()));
    }
    let mut servers = Vec::new();
    for package in &metadata.packages {
        match classify(package) {
            Ok(bin) => servers.push(project(package, bin)),
            Err(NotServer::AmbiguousBins(bins)) => {
                return Err(ambiguous_bins(&package.name, &bins));
            }
            Err(_) => {}
        }
    }
    match servers.len() {
        0 if explicit => Err(miette!(
            help = "pass --manifest-path to the Cargo.toml of the server crate itself, or create one with `mcpctl new NAME`",
            "{shown} is not an mcpctl server crate: no member of its workspace has a bin and depends on mcpctl-handler"
        )),
        0 => Ok(None),
        1 => Ok(servers.pop()),
        _ => Err(miette!(
            help = "pick one with --manifest-path (its Cargo.toml), or run mcpctl inside its directory",
            "the workspace {shown} has several mcpctl server crates: {}",
            servers
                .iter()
                .map(|p| p.package.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn the_repository_root_is_recognised_without_cargo_and_nothing_below_it() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert_eq!(
            repository_root_config_dir_from(repo),
            Some(repo.join("config"))
        );
        assert_eq!(
            repository_root_config_dir_from(&repo.join("config")),
            Some(repo.join("config"))
        );
        // Inside a member crate the nearest manifest is the crate's: cargo decides.
        assert_eq!(
            repository_root_config_dir_from(&repo.join("deployer/src")),
            None
        );
        assert_eq!(
            repository_root_config_dir_from(&repo.join("examples/everything")),
            None
        );
    }

    /// A fresh directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "mcpctl-project-{name}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            // Canonical, so paths compare equal to the ones cargo reports.
            Self(dir.canonicalize().unwrap())
        }

        fn write(&self, path: &str, text: &str) -> PathBuf {
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }

        /// A crate at `dir` (relative), with `src/main.rs` and the given extra manifest text.
        fn krate(&self, dir: &str, name: &str, extra: &str) -> PathBuf {
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            self.write(&format!("{prefix}src/main.rs"), "fn main() {}\n");
            self.write(
                &format!("{prefix}Cargo.toml"),
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n{extra}"
                ),
            )
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The message and help of an error, unwrapped (`{:?}` wraps lines).
    fn text(error: miette::Report) -> String {
        let help = error.help().map(|h| h.to_string()).unwrap_or_default();
        format!("{error} (help: {help})")
    }

    /// A registry dependency is never resolved by `cargo metadata --no-deps`: offline is fine.
    const SERVER: &str = "\n[[bin]]\nname = \"bootstrap\"\npath = \"src/main.rs\"\n\n[dependencies]\nmcpctl-handler = \"0.1\"\n\n[workspace]\n";

    #[test]
    fn a_crate_with_the_handler_dependency_and_a_bin_is_the_project() {
        let tmp = TempDir::new("server");
        let manifest = tmp.krate("", "my-server", SERVER);
        let project = find_from(&tmp.0, None).unwrap().unwrap();
        assert_eq!(project.package, "my-server");
        assert_eq!(project.bin, "bootstrap");
        assert!(same_file(&project.manifest, &manifest));
        assert_eq!(project.root, tmp.0);
        assert_eq!(project.config_dir, tmp.0.join("config"));
        assert_eq!(project.workspace_root, tmp.0);
        assert!(project.target_dir.is_absolute(), "{project:?}");
        assert!(!project.builtin);
    }

    #[test]
    fn the_project_is_found_from_a_nested_directory() {
        let tmp = TempDir::new("nested");
        tmp.krate("", "nested-server", SERVER);
        let deep = tmp.0.join("src/tools/deeper");
        std::fs::create_dir_all(&deep).unwrap();
        let project = find_from(&deep, None).unwrap().unwrap();
        assert_eq!(project.package, "nested-server");
        assert_eq!(project.root, tmp.0);
    }

    #[test]
    fn the_only_bin_is_taken_whatever_its_name_and_bootstrap_wins_among_several() {
        let tmp = TempDir::new("bins");
        tmp.krate(
            "one",
            "one",
            "\n[dependencies]\nmcpctl-handler = \"0.1\"\n\n[workspace]\n",
        );
        tmp.write("two/src/bin/other.rs", "fn main() {}\n");
        tmp.krate("two", "two", SERVER);
        tmp.write("three/src/bin/a.rs", "fn main() {}\n");
        tmp.write("three/src/bin/b.rs", "fn main() {}\n");
        tmp.krate(
            "three",
            "three",
            "\n[dependencies]\nmcpctl-handler = \"0.1\"\n\n[workspace]\n",
        );
        let bin = |dir: &str| find_from(&tmp.0.join(dir), None).map(|p| p.unwrap().bin);
        assert_eq!(bin("one").unwrap(), "one");
        assert_eq!(bin("two").unwrap(), "bootstrap");
        let error = text(bin("three").unwrap_err());
        assert!(
            error.contains("several bins") && error.contains("a, b"),
            "{error}"
        );
    }

    #[test]
    fn a_crate_without_the_handler_dependency_is_no_project() {
        let tmp = TempDir::new("plain");
        let manifest = tmp.krate("", "plain", "\n[dependencies]\n\n[workspace]\n");
        assert_eq!(find_from(&tmp.0, None).unwrap(), None);
        let error = find_from(&tmp.0, Some(&manifest)).unwrap_err();
        let message = text(error);
        assert!(
            message.contains("not an mcpctl server crate")
                && message.contains("does not depend on mcpctl-handler"),
            "{message}"
        );
    }

    #[test]
    fn an_explicit_manifest_without_a_bin_says_so() {
        let tmp = TempDir::new("nobin");
        tmp.write("src/lib.rs", "");
        let manifest = tmp.write(
            "Cargo.toml",
            "[package]\nname = \"lib-only\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nmcpctl-handler = \"0.1\"\n\n[workspace]\n",
        );
        let message = text(find_from(&tmp.0, Some(&manifest)).unwrap_err());
        assert!(message.contains("has no bin target"), "{message}");
        // Found by walking up instead: not a server, and not an error either.
        assert_eq!(find_from(&tmp.0, None).unwrap(), None);
    }

    #[test]
    fn an_explicit_manifest_that_does_not_exist_is_an_error() {
        let tmp = TempDir::new("missing");
        let message = text(find_from(&tmp.0, Some(Path::new("nope/Cargo.toml"))).unwrap_err());
        assert!(message.contains("no such file"), "{message}");
    }

    #[test]
    fn a_workspace_root_yields_its_one_server_member() {
        let tmp = TempDir::new("workspace");
        tmp.write(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"server\", \"util\"]\n",
        );
        tmp.krate(
            "server",
            "ws-server",
            "\n[dependencies]\nmcpctl-handler = \"0.1\"\n",
        );
        tmp.write("util/src/lib.rs", "");
        tmp.write(
            "util/Cargo.toml",
            "[package]\nname = \"util\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
        );
        let project = find_from(&tmp.0, None).unwrap().unwrap();
        assert_eq!(project.package, "ws-server");
        assert_eq!(project.root, tmp.0.join("server"));
        assert_eq!(project.workspace_root, tmp.0);
        assert_eq!(project.config_dir, tmp.0.join("server/config"));
        // From inside the library member, the nearest manifest is not a server: no project.
        assert_eq!(find_from(&tmp.0.join("util/src"), None).unwrap(), None);
    }

    #[test]
    fn a_workspace_with_two_servers_asks_which() {
        let tmp = TempDir::new("two-servers");
        tmp.write(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"a\", \"b\"]\n",
        );
        tmp.krate(
            "a",
            "server-a",
            "\n[dependencies]\nmcpctl-handler = \"0.1\"\n",
        );
        tmp.krate(
            "b",
            "server-b",
            "\n[dependencies]\nmcpctl-handler = \"0.1\"\n",
        );
        let message = text(find_from(&tmp.0, None).unwrap_err());
        assert!(
            message.contains("several mcpctl server crates")
                && message.contains("server-a, server-b"),
            "{message}"
        );
        assert_eq!(
            find_from(&tmp.0.join("b"), None).unwrap().unwrap().package,
            "server-b"
        );
    }

    #[test]
    fn no_cargo_toml_at_all_is_no_project() {
        // The filesystem root has no Cargo.toml on any sane machine.
        let root = Path::new("/");
        if nearest_manifest(root).is_none() {
            assert_eq!(find_from(root, None).unwrap(), None);
        }
    }

    #[test]
    fn the_mcpctl_repository_is_the_builtin_example() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for dir in [
            repo.to_path_buf(),
            repo.join("deployer/src"),
            repo.join("handler"),
        ] {
            let project = find_from(&dir, None).unwrap().unwrap();
            assert!(project.builtin, "{project:?}");
            assert_eq!(project.package, BUILTIN_PACKAGE);
            assert_eq!(project.bin, "bootstrap");
            assert!(same_file(&project.workspace_root, repo));
            assert_eq!(project.root, project.workspace_root.join(BUILTIN_DIR));
            assert_eq!(project.config_dir, project.workspace_root.join("config"));
        }
    }

    #[test]
    fn a_server_crate_inside_the_mcpctl_repository_is_itself_and_shares_its_stages() {
        let tmp = TempDir::new("repo");
        tmp.write(
            "Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"handler\", \"deployer\", \"examples/demo\"]\n",
        );
        tmp.write("handler/src/lib.rs", "");
        tmp.write(
            "handler/Cargo.toml",
            "[package]\nname = \"mcpctl-handler\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
        );
        // The CLI has a bin and depends on the handler, but is no server.
        tmp.krate(
            "deployer",
            "mcpctl",
            "\n[dependencies]\nmcpctl-handler = { path = \"../handler\" }\n",
        );
        tmp.krate(
            "examples/demo",
            "example-demo",
            "\n[dependencies]\nmcpctl-handler = { path = \"../../handler\" }\n",
        );
        std::fs::create_dir_all(tmp.0.join("config")).unwrap();
        let example = find_from(&tmp.0.join("examples/demo/src"), None)
            .unwrap()
            .unwrap();
        assert_eq!(example.package, "example-demo");
        assert!(!example.builtin);
        assert_eq!(example.config_dir, tmp.0.join("config"));
        let cli = find_from(&tmp.0.join("deployer"), None).unwrap().unwrap();
        assert!(cli.builtin, "{cli:?}");
        assert_eq!(cli.manifest, tmp.0.join("Cargo.toml"));
    }

    #[test]
    fn the_config_dir_is_explicit_then_the_projects_then_the_default() {
        let tmp = TempDir::new("config-dir");
        tmp.krate("", "cfg-server", SERVER);
        let project = find_from(&tmp.0, None).unwrap();
        assert_eq!(
            config_dir(Some(Path::new("elsewhere")), project.as_ref()),
            PathBuf::from("elsewhere")
        );
        // The test's cwd is not above the temp dir: the path stays absolute.
        assert_eq!(config_dir(None, project.as_ref()), tmp.0.join("config"));
        assert_eq!(config_dir(None, None), PathBuf::from("config"));
    }
}
