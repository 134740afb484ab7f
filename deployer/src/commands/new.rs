//! `mcpctl new NAME`: a standalone server crate to start from: one `hello` tool, its test, the
//! `dev` and `prod` stages, and a README with the commands to run it and deploy it. The files
//! are templates under `deployer/scaffold/`, built into mcpctl.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::OutputFormat;

/// Arguments of `mcpctl new`.
#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    /// The crate's name (a cargo package name: lower case letters, digits, `-` and `_`); also
    /// its directory and the prefix of its stacks (`NAME-dev`, `NAME-prod`).
    pub(crate) name: String,
    /// Depend on the mcpctl repository checked out at this directory (its handler/, with its
    /// Cargo.lock copied) instead of the published mcpctl-handler.
    #[arg(long, value_name = "MCPCTL_REPO_DIR")]
    pub(crate) path: Option<PathBuf>,
    /// Gateway mode: no Rust tools; a FastMCP server in upstream/ (any language works) behind
    /// mcpctl's authorization server, deployed as its own Lambda function.
    #[arg(long)]
    pub(crate) gateway: bool,
    /// Create the crate in DIR/NAME (default: in the current directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

/// The templates, by the path they get in the new crate.
const FILES: [(&str, &str); 7] = [
    ("Cargo.toml", include_str!("../../scaffold/Cargo.toml.tmpl")),
    (".gitignore", include_str!("../../scaffold/gitignore")),
    ("README.md", include_str!("../../scaffold/README.md")),
    ("src/main.rs", include_str!("../../scaffold/src/main.rs")),
    ("src/tests.rs", include_str!("../../scaffold/src/tests.rs")),
    (
        "config/dev.yaml",
        include_str!("../../scaffold/config/dev.yaml"),
    ),
    (
        "config/prod.yaml",
        include_str!("../../scaffold/config/prod.yaml"),
    ),
];

/// The templates of `mcpctl new --gateway`.
const GATEWAY_FILES: [(&str, &str); 9] = [
    (
        "Cargo.toml",
        include_str!("../../scaffold/gateway/Cargo.toml.tmpl"),
    ),
    (".gitignore", include_str!("../../scaffold/gitignore")),
    (
        "README.md",
        include_str!("../../scaffold/gateway/README.md"),
    ),
    (
        "src/main.rs",
        include_str!("../../scaffold/gateway/src/main.rs"),
    ),
    (
        "config/dev.yaml",
        include_str!("../../scaffold/gateway/config/dev.yaml"),
    ),
    (
        "config/prod.yaml",
        include_str!("../../scaffold/gateway/config/prod.yaml"),
    ),
    (
        "upstream/server.py",
        include_str!("../../scaffold/gateway/upstream/server.py"),
    ),
    (
        "upstream/requirements.txt",
        include_str!("../../scaffold/gateway/upstream/requirements.txt"),
    ),
    (
        "upstream/run.sh",
        include_str!("../../scaffold/gateway/upstream/run.sh"),
    ),
];

/// The longest name: the stack `NAME-prod` must leave room for `-authorizer` in Lambda's
/// 64-character function names (the stage configuration checks the same limit).
const MAX_NAME: usize = 64 - "-authorizer".len() - "-prod".len();

/// Names cargo refuses for a package (they shadow Rust's own crates).
const RESERVED: [&str; 6] = ["test", "core", "std", "alloc", "proc_macro", "proc-macro"];

/// What `mcpctl new` created.
#[derive(Debug, serde::Serialize)]
struct Created {
    created: PathBuf,
    files: Vec<String>,
    next: Vec<String>,
}

pub(crate) fn run(args: NewArgs) -> miette::Result<ExitCode> {
    let parent = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().into_diagnostic()?,
    };
    let created = scaffold(&args.name, &parent, args.path.as_deref(), args.gateway)?;
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&created).into_diagnostic()?
        ),
        OutputFormat::Text => {
            println!("created {}", created.created.display());
            for file in &created.files {
                println!("  {file}");
            }
            println!("next:");
            for step in &created.next {
                println!("  {step}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks `name` is a package name cargo accepts and a usable stack name prefix.
fn validate_name(name: &str) -> miette::Result<()> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !well_formed {
        return Err(miette!(
            help = "start with a lower-case letter and use only a-z, 0-9, `-` and `_`, e.g. `mcpctl new notes-server`",
            "`{name}` is not a usable crate name"
        ));
    }
    if name.len() > MAX_NAME {
        return Err(miette!(
            help = format!(
                "use at most {MAX_NAME} characters: the stack `{name}-prod` and its functions (`-authorizer`) must fit AWS's 64-character names"
            ),
            "`{name}` is too long ({} characters)",
            name.len()
        ));
    }
    if RESERVED.contains(&name) {
        return Err(miette!(
            help = format!("pick another name, e.g. `{name}-server`"),
            "`{name}` is the name of one of Rust's own crates; cargo refuses it for a package"
        ));
    }
    Ok(())
}

/// The `mcpctl-handler` dependency line: the repository's handler/ with `--path`, else the
/// published crate of this mcpctl's version.
fn handler_dependency(repo: Option<&Path>) -> miette::Result<String> {
    let Some(repo) = repo else {
        return Ok(format!(
            "mcpctl-handler = \"{}\"",
            env!("CARGO_PKG_VERSION")
        ));
    };
    let handler_manifest = repo.join("handler/Cargo.toml");
    let is_handler = std::fs::read_to_string(&handler_manifest)
        .is_ok_and(|text| text.contains("name = \"mcpctl-handler\""));
    if !is_handler {
        return Err(miette!(
            help = "pass the root of an mcpctl checkout (the directory holding handler/Cargo.toml), or leave --path out to use the published mcpctl-handler",
            "--path {}: not an mcpctl repository (no mcpctl-handler package in {})",
            repo.display(),
            handler_manifest.display()
        ));
    }
    let handler = repo
        .join("handler")
        .canonicalize()
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot resolve {}", repo.join("handler").display()))?;
    // TOML basic strings take the path as is except `\` and `"`.
    let path = handler
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    Ok(format!("mcpctl-handler = {{ path = \"{path}\" }}"))
}

/// Fills a template.
fn render(template: &str, name: &str, handler_dependency: &str) -> String {
    template
        .replace("{{name}}", name)
        // Stack names take `-` but not `_`.
        .replace("{{stack}}", &name.replace('_', "-"))
        .replace("{{handler_dependency}}", handler_dependency)
}

/// Writes `dir/path`, creating its directory.
fn write(dir: &Path, path: &str, text: &str) -> miette::Result<()> {
    let target = dir.join(path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&target, text)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", target.display()))
}

/// Writes the crate `name` into `parent/name`; `repo` is `--path`.
fn scaffold(
    name: &str,
    parent: &Path,
    repo: Option<&Path>,
    gateway: bool,
) -> miette::Result<Created> {
    validate_name(name)?;
    let dependency = handler_dependency(repo)?;
    let dir = parent.join(name);
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(miette!(
            help = "pick another name, pass --dir to create it elsewhere, or empty the directory",
            "{} already exists and is not empty",
            dir.display()
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(miette!(
            help = "pick another name, or pass --dir to create it elsewhere",
            "{} already exists and is a file",
            dir.display()
        ));
    }
    let mut files = Vec::new();
    let templates: &[(&str, &str)] = if gateway { &GATEWAY_FILES } else { &FILES };
    for (path, template) in templates {
        write(&dir, path, &render(template, name, &dependency))?;
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join(path), std::fs::Permissions::from_mode(0o755))
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot make {path} executable"))?;
        }
        files.push((*path).to_owned());
    }
    // The repository's versions, so the crate builds with what the repository was tested with
    // (and offline, from the same cargo cache).
    if let Some(lock) = repo
        .map(|repo| repo.join("Cargo.lock"))
        .filter(|l| l.is_file())
    {
        let text = std::fs::read_to_string(&lock)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read {}", lock.display()))?;
        write(&dir, "Cargo.lock", &text)?;
        files.push("Cargo.lock".to_owned());
    }
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or_else(|| dir.clone());
    let next = if gateway {
        vec![
            format!("cd {}", shown.display()),
            "start upstream/server.py as README.md shows, then: mcpctl dev --upstream http://127.0.0.1:8000/mcp".to_owned(),
            "mcpctl deploy --stage dev".to_owned(),
        ]
    } else {
        vec![
            format!("cd {}", shown.display()),
            "mcpctl dev".to_owned(),
            "cargo test".to_owned(),
            "mcpctl deploy --stage dev".to_owned(),
        ]
    };
    Ok(Created {
        next,
        created: dir,
        files,
    })
}

#[cfg(test)]
mod tests {
    use std::{
        collections::BTreeMap,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    /// A fresh directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "mcpctl-new-{name}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn read(dir: &Path, path: &str) -> String {
        std::fs::read_to_string(dir.join(path)).unwrap()
    }

    fn text(error: miette::Report) -> String {
        let help = error.help().map(|h| h.to_string()).unwrap_or_default();
        format!("{error} (help: {help})")
    }

    /// The mcpctl repository this test runs in.
    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn the_crate_has_every_file_with_the_placeholders_filled() {
        let tmp = TempDir::new("files");
        let created = scaffold("notes_server", &tmp.0, None, false).unwrap();
        let dir = tmp.0.join("notes_server");
        assert_eq!(created.created, dir);
        assert_eq!(
            created.files,
            [
                "Cargo.toml",
                ".gitignore",
                "README.md",
                "src/main.rs",
                "src/tests.rs",
                "config/dev.yaml",
                "config/prod.yaml"
            ]
        );
        assert!(!dir.join("Cargo.lock").exists(), "no lock without --path");
        for file in &created.files {
            let text = read(&dir, file);
            assert!(
                !text.contains("{{"),
                "{file} has an unfilled placeholder:\n{text}"
            );
        }
        let manifest = read(&dir, "Cargo.toml");
        assert!(manifest.contains("name = \"notes_server\""), "{manifest}");
        assert!(
            manifest.contains(&format!(
                "mcpctl-handler = \"{}\"",
                env!("CARGO_PKG_VERSION")
            )),
            "{manifest}"
        );
        assert!(manifest.contains("[workspace]\n"), "{manifest}");
        assert!(manifest.contains("name = \"bootstrap\""), "{manifest}");
        assert!(read(&dir, "config/dev.yaml").contains("stack_name: notes-server-dev"));
        assert!(read(&dir, "config/prod.yaml").contains("stack_name: notes-server-prod"));
        assert!(read(&dir, "README.md").starts_with("# notes_server\n"));
        assert_eq!(read(&dir, ".gitignore"), "/target\n");
        let main = read(&dir, "src/main.rs");
        assert!(main.contains("mcpctl_handler::run(Server::new)"), "{main}");
        assert!(read(&dir, "src/tests.rs").contains("\"Ada\""));
        assert_eq!(
            created.next,
            [
                "cd ".to_owned() + &dir.display().to_string(),
                "mcpctl dev".into(),
                "cargo test".into(),
                "mcpctl deploy --stage dev".into()
            ]
        );
    }

    #[test]
    fn a_gateway_crate_has_an_upstream_server_and_stages_in_gateway_mode() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = TempDir::new("gateway");
        let created = scaffold("gw", &tmp.0, None, true).unwrap();
        let dir = tmp.0.join("gw");
        for file in [
            "upstream/server.py",
            "upstream/requirements.txt",
            "upstream/run.sh",
            "src/main.rs",
        ] {
            assert!(created.files.iter().any(|f| f == file), "{file}");
        }
        let mode = std::fs::metadata(dir.join("upstream/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o111,
            0o111,
            "run.sh must be executable for the web adapter"
        );
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        assert!(main.contains("mcpctl_handler::run_gateway()"), "{main}");
        let server = std::fs::read_to_string(dir.join("upstream/server.py")).unwrap();
        assert!(server.contains("FastMCP(\n    \"gw\""), "{server}");
        let no_env = BTreeMap::new();
        for stage in ["dev", "prod"] {
            let config = crate::stage::load(&dir.join("config"), stage, &no_env).unwrap();
            let upstream = config.upstream.expect("gateway mode");
            let function = upstream.function.expect("an upstream function");
            assert_eq!(function.source.as_deref(), Some("upstream"));
            assert_eq!(config.stack_name, format!("gw-{stage}"));
        }
        assert!(created.next.iter().any(|n| n.contains("--upstream")));
    }

    #[test]
    fn the_stages_pass_the_stage_configuration_checks() {
        let tmp = TempDir::new("stages");
        scaffold("stage-check", &tmp.0, None, false).unwrap();
        let config_dir = tmp.0.join("stage-check/config");
        let no_env = BTreeMap::new();
        let dev = crate::stage::load(&config_dir, "dev", &no_env).unwrap();
        assert_eq!(dev.stack_name, "stage-check-dev");
        assert!(!dev.production);
        let prod = crate::stage::load(&config_dir, "prod", &no_env).unwrap();
        assert_eq!(prod.stack_name, "stage-check-prod");
        assert!(prod.production);
        // The longest name allowed still gives valid stacks.
        let long = "a".repeat(MAX_NAME);
        scaffold(&long, &tmp.0, None, false).unwrap();
        let config_dir = tmp.0.join(&long).join("config");
        for stage in ["dev", "prod"] {
            crate::stage::load(&config_dir, stage, &no_env).unwrap();
        }
    }

    #[test]
    fn with_path_the_crate_depends_on_the_checkout_and_copies_its_lock() {
        let tmp = TempDir::new("path");
        let created = scaffold("local", &tmp.0, Some(&repo()), false).unwrap();
        assert!(created.files.contains(&"Cargo.lock".to_owned()));
        let dir = tmp.0.join("local");
        let handler = repo().join("handler").canonicalize().unwrap();
        let manifest = read(&dir, "Cargo.toml");
        assert!(
            manifest.contains(&format!(
                "mcpctl-handler = {{ path = \"{}\" }}",
                handler.display()
            )),
            "{manifest}"
        );
        assert_eq!(
            read(&dir, "Cargo.lock"),
            std::fs::read_to_string(repo().join("Cargo.lock")).unwrap()
        );
    }

    #[test]
    fn a_path_that_is_not_an_mcpctl_checkout_is_refused() {
        let tmp = TempDir::new("bad-path");
        let message = text(scaffold("x", &tmp.0, Some(&tmp.0), false).unwrap_err());
        assert!(message.contains("not an mcpctl repository"), "{message}");
        assert!(!tmp.0.join("x").exists(), "nothing is written");
    }

    #[test]
    fn a_non_empty_directory_is_refused_and_an_empty_one_used() {
        let tmp = TempDir::new("occupied");
        std::fs::create_dir_all(tmp.0.join("taken")).unwrap();
        std::fs::write(tmp.0.join("taken/notes.txt"), "mine").unwrap();
        let message = text(scaffold("taken", &tmp.0, None, false).unwrap_err());
        assert!(
            message.contains("already exists and is not empty"),
            "{message}"
        );
        assert_eq!(read(&tmp.0, "taken/notes.txt"), "mine");
        std::fs::create_dir_all(tmp.0.join("empty")).unwrap();
        scaffold("empty", &tmp.0, None, false).unwrap();
        assert!(tmp.0.join("empty/src/main.rs").is_file());
    }

    #[test]
    fn names_cargo_or_aws_would_refuse_are_refused() {
        for good in ["a", "notes", "notes-server", "notes_server2"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "",
            "Notes",
            "1notes",
            "-notes",
            "notes.server",
            "notes server",
            "é",
        ] {
            let message = text(validate_name(bad).unwrap_err());
            assert!(
                message.contains("not a usable crate name"),
                "{bad}: {message}"
            );
        }
        let message = text(validate_name(&"a".repeat(MAX_NAME + 1)).unwrap_err());
        assert!(message.contains("too long"), "{message}");
        assert!(text(validate_name("test").unwrap_err()).contains("Rust's own crates"));
    }

    #[test]
    fn the_profiles_match_the_repositorys() {
        // The new crate's release and lambda profiles are the mcpctl workspace's, copied.
        let root = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
        let template = FILES[0].1;
        let profiles = |text: &str| -> String {
            let start = text.find("[profile.release]").unwrap();
            let rest = &text[start..];
            let end = rest
                .find("[profile.lambda]")
                .and_then(|lambda| rest[lambda..].find("\n[").map(|next| lambda + next))
                .unwrap_or(rest.len());
            rest[..end].trim().to_owned()
        };
        assert_eq!(profiles(template), profiles(&root));
    }
}
