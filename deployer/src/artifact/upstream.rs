//! The upstream function's zip (gateway mode, `upstream.function.source`): the server's directory,
//! with its Python requirements installed for Lambda when it has a `requirements.txt`, zipped
//! deterministically (entries sorted, timestamps fixed, the executable bit kept, symlinks kept as
//! symlinks) so an unchanged server gives the same bytes, the same S3 key, and no change to the
//! stack.

use std::{
    io::{Cursor, Write},
    path::{Component, Path, PathBuf},
    process::Command,
};

use miette::{IntoDiagnostic, WrapErr, miette};
use zip::{CompressionMethod, DateTime, ZipWriter, write::SimpleFileOptions};

use super::{Arch, Artifact, describe};
use crate::{
    project::Project,
    stage::config::{Architecture, Package, StageConfig, UpstreamFunctionConfig},
};

/// Names never zipped, at any depth: version control and Python caches and environments.
const EXCLUDED_DIRS: [&str; 3] = [".git", "__pycache__", ".venv"];

/// Lambda's limit on a function's unzipped code (its layers count too).
const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;

/// The file whose presence at the source's root makes mcpctl install Python requirements.
const REQUIREMENTS: &str = "requirements.txt";

/// The zip's file name under `<dir>/<arch>/`.
const ZIP_NAME: &str = "mcpctl-upstream.zip";

/// Where the upstream's zip is written: `<dir>/<arch>/mcpctl-upstream.zip`.
pub(crate) fn zip_path(dir: &Path, arch: Arch) -> PathBuf {
    dir.join(arch.as_str()).join(ZIP_NAME)
}

/// The upstream zip of a stage whose `upstream.function` has a `source`, built (`None` for
/// every other stage). The source is relative to the project root, the directory holding
/// `config_dir`; the zip goes under the project's target directory (`<root>/target` without a
/// crate).
pub(crate) fn for_stage(
    config: &StageConfig,
    config_dir: &Path,
    project: Option<&Project>,
) -> miette::Result<Option<Artifact>> {
    let Some(function) = config
        .upstream
        .as_ref()
        .and_then(|upstream| upstream.function.as_ref())
        .filter(|function| matches!(function.package(), Package::Zip { .. }))
    else {
        return Ok(None);
    };
    let root = match config_dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    // Absolute, so the zip's path reads the same from anywhere (`mcpctl build` prints it).
    let root = std::path::absolute(&root).into_diagnostic()?;
    let out_dir = project.map_or_else(
        || root.join("target").join("lambda"),
        |project| project.target_dir.join("lambda"),
    );
    let config_file = config_dir.join(format!("{}.yaml", config.stage_name()));
    build(&root, &config_file, function, &out_dir).map(Some)
}

/// An error about `field` of the stage file `config_file`, in the style of the configuration's.
fn field_error(config_file: &Path, field: &str, problem: &str, fix: &str) -> miette::Report {
    miette!(
        help = format!("change `{field}` in {}", config_file.display()),
        "{}: {field}: {problem}; {fix}",
        config_file.display()
    )
}

/// One entry of the zip.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A regular file and whether it is executable.
    File { path: PathBuf, executable: bool },
    /// A symbolic link and its (relative, inside the source) target.
    Symlink { target: PathBuf },
}

/// Builds the zip of `function` (a `source` zip) from the project root `root` into
/// [`zip_path`]`(out_dir, arch)`; `config_file` names the stage file in errors.
pub(crate) fn build(
    root: &Path,
    config_file: &Path,
    function: &UpstreamFunctionConfig,
    out_dir: &Path,
) -> miette::Result<Artifact> {
    let Package::Zip {
        source, handler, ..
    } = function.package()
    else {
        return Err(miette!(
            "upstream.function is an image: there is nothing for mcpctl to build"
        ));
    };
    let arch = Arch::from(function.architecture);
    let dir = root.join(source);
    let field = "upstream.function.source";
    let shown = dir.display().to_string();
    match std::fs::metadata(&dir) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => {
            return Err(field_error(
                config_file,
                field,
                &format!("{shown} is not a directory"),
                "name the directory of the upstream server, relative to the project root",
            ));
        }
        Err(_) => {
            return Err(field_error(
                config_file,
                field,
                &format!("{shown} does not exist"),
                "create it with the server's code (and a start script, upstream.function.handler), or fix the path: it is relative to the directory holding config/",
            ));
        }
    }
    let zip = zip_path(out_dir, arch);
    let mut entries = collect(&dir, zip.parent(), config_file, true)?;
    if entries.is_empty() {
        return Err(field_error(
            config_file,
            field,
            &format!("{shown} is empty (.git, __pycache__, .venv and *.pyc are left out)"),
            "put the server's code there",
        ));
    }
    check_handler(config_file, function, handler, &entries)?;
    let staging;
    let from = if entries.contains_key(Path::new(REQUIREMENTS))
        && let Some(version) = function
            .runtime
            .as_deref()
            .and_then(|runtime| runtime.strip_prefix("python"))
    {
        staging = tempfile::Builder::new()
            .prefix("mcpctl-upstream-")
            .tempdir()
            .into_diagnostic()
            .wrap_err("cannot create a temporary directory to install the requirements in")?;
        copy_entries(&dir, staging.path(), &entries)?;
        install_requirements("python3", staging.path(), version, function.architecture)?;
        // Installed packages ship certificates and keys of their own (certifi's cacert.pem).
        entries = collect(staging.path(), None, config_file, false)?;
        staging.path().to_owned()
    } else {
        dir.clone()
    };
    let bytes = zip_entries(&from, &entries)?;
    if let Some(parent) = zip.parent() {
        std::fs::create_dir_all(parent)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&zip, bytes)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", zip.display()))?;
    describe(&zip, arch)
}

/// Every entry under `dir`, keyed by its path relative to `dir`, sorted (a `BTreeMap`), leaving
/// out [`EXCLUDED_DIRS`], `*.pyc` and the directory `skip` (where the zip itself is written).
fn collect(
    dir: &Path,
    skip: Option<&Path>,
    config_file: &Path,
    refuse_secrets: bool,
) -> miette::Result<std::collections::BTreeMap<PathBuf, Entry>> {
    let skip = skip.and_then(|skip| std::fs::canonicalize(skip).ok());
    let root = std::fs::canonicalize(dir).into_diagnostic()?;
    let mut entries = std::collections::BTreeMap::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        if skip
            .as_deref()
            .is_some_and(|skip| std::fs::canonicalize(&here).is_ok_and(|here| here == skip))
        {
            continue;
        }
        let listing = std::fs::read_dir(&here)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read {}", here.display()))?;
        for item in listing {
            let item = item.into_diagnostic()?;
            let name = item.file_name();
            let name_text = name.to_string_lossy();
            let path = relative.join(&name);
            let metadata = std::fs::symlink_metadata(item.path()).into_diagnostic()?;
            if refuse_secrets && looks_secret(&name_text, metadata.is_dir()) {
                return Err(field_error(
                    config_file,
                    "upstream.function.source",
                    &format!(
                        "{} looks like a secret, and everything in the directory is uploaded with the code (anyone allowed lambda:GetFunction can download it)",
                        path.display()
                    ),
                    "move it out of the directory, and give the server its secrets through upstream.function.environment (from Secrets Manager at run time)",
                ));
            }
            if metadata.file_type().is_symlink() {
                let target = std::fs::read_link(item.path()).into_diagnostic()?;
                // Resolved through every link on the way, not only by its text.
                let resolved_outside = std::fs::canonicalize(item.path())
                    .is_ok_and(|resolved| !resolved.starts_with(&root));
                if resolved_outside || !stays_inside(&path, &target) {
                    return Err(field_error(
                        config_file,
                        "upstream.function.source",
                        &format!(
                            "{} is a symbolic link to {}, outside the directory",
                            path.display(),
                            target.display()
                        ),
                        "replace it with the file itself, or make it a relative link inside the directory",
                    ));
                }
                entries.insert(path, Entry::Symlink { target });
            } else if metadata.is_dir() {
                if !EXCLUDED_DIRS.contains(&name_text.as_ref()) {
                    pending.push(path);
                }
            } else if metadata.is_file() && !name_text.ends_with(".pyc") {
                entries.insert(
                    path.clone(),
                    Entry::File {
                        path,
                        executable: is_executable(&metadata),
                    },
                );
            }
        }
    }
    Ok(entries)
}

/// Names of files and directories that hold credentials: never zipped from the source.
fn looks_secret(name: &str, is_dir: bool) -> bool {
    let lower = name.to_ascii_lowercase();
    if is_dir {
        return matches!(lower.as_str(), ".aws" | ".ssh" | ".gnupg");
    }
    let env_file = lower == ".env"
        || (lower.starts_with(".env.")
            && !matches!(
                lower.as_str(),
                ".env.example" | ".env.sample" | ".env.template"
            ));
    env_file
        || matches!(
            lower.as_str(),
            ".npmrc" | ".pypirc" | ".netrc" | "credentials"
        )
        || lower.starts_with("id_rsa")
        || lower.starts_with("id_ed25519")
        || lower.starts_with("id_ecdsa")
        || [".pem", ".key", ".p12", ".pfx"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// A relative link target that, resolved from the link's directory, stays inside the source.
fn stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for part in target.components() {
        match part {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// The handler must be in the zip: with the web adapter the start script itself, executable;
/// without it, the module a Python (`module.function`) or Node.js handler names.
fn check_handler(
    config_file: &Path,
    function: &UpstreamFunctionConfig,
    handler: &str,
    entries: &std::collections::BTreeMap<PathBuf, Entry>,
) -> miette::Result<()> {
    let field = "upstream.function.handler";
    let source = function.source.as_deref().unwrap_or_default();
    if function.uses_web_adapter() {
        return match entries.get(Path::new(handler)) {
            Some(Entry::File {
                executable: true, ..
            })
            | Some(Entry::Symlink { .. }) => Ok(()),
            Some(Entry::File { .. }) => Err(field_error(
                config_file,
                field,
                &format!(
                    "{source}/{handler} is not executable, so the web adapter cannot start it"
                ),
                &format!(
                    "run `chmod +x {source}/{handler}` (and commit the mode: git update-index --chmod=+x)"
                ),
            )),
            None => Err(field_error(
                config_file,
                field,
                &format!("{source}/{handler} does not exist"),
                &format!(
                    "add the start script that runs the server on upstream.function.port, e.g. {source}/run.sh with `exec python3 server.py`, or fix the name"
                ),
            )),
        };
    }
    let runtime = function.runtime.as_deref().unwrap_or_default();
    let Some((module, _)) = handler.rsplit_once('.') else {
        return Ok(());
    };
    let module = module.replace('.', "/");
    let candidates: Vec<String> = if runtime.starts_with("python") {
        vec![format!("{module}.py")]
    } else if runtime.starts_with("nodejs") {
        ["js", "mjs", "cjs"]
            .iter()
            .map(|extension| format!("{module}.{extension}"))
            .collect()
    } else {
        return Ok(());
    };
    if candidates
        .iter()
        .any(|candidate| entries.contains_key(Path::new(candidate)))
    {
        return Ok(());
    }
    Err(field_error(
        config_file,
        field,
        &format!(
            "`{handler}` names {}, which is not in {source}",
            candidates.join(" or ")
        ),
        "fix the handler (module.function), or add the module",
    ))
}

fn copy_entries(
    from: &Path,
    to: &Path,
    entries: &std::collections::BTreeMap<PathBuf, Entry>,
) -> miette::Result<()> {
    for (relative, entry) in entries {
        let destination = to.join(relative);
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent).into_diagnostic()?;
        }
        match entry {
            Entry::File { .. } => {
                std::fs::copy(from.join(relative), &destination)
                    .into_diagnostic()
                    .wrap_err_with(|| format!("cannot copy {}", relative.display()))?;
            }
            Entry::Symlink { target } => {
                #[cfg(unix)]
                std::os::unix::fs::symlink(target, &destination).into_diagnostic()?;
                #[cfg(not(unix))]
                let _ = target;
            }
        }
    }
    Ok(())
}

/// The pip command that installs `requirements.txt` into `target` for Lambda: binary wheels
/// only, for the function's architecture and Python version.
fn pip_args(target: &Path, python_version: &str, architecture: Architecture) -> Vec<String> {
    let platform = match architecture {
        Architecture::Arm64 => "manylinux2014_aarch64",
        Architecture::X86_64 => "manylinux2014_x86_64",
    };
    [
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "-r",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([
        target.join(REQUIREMENTS).display().to_string(),
        "--target".to_owned(),
        target.display().to_string(),
        "--platform".to_owned(),
        platform.to_owned(),
        "--implementation".to_owned(),
        "cp".to_owned(),
        "--python-version".to_owned(),
        python_version.to_owned(),
        "--only-binary=:all:".to_owned(),
    ])
    .collect()
}

fn install_requirements(
    python: &str,
    target: &Path,
    python_version: &str,
    architecture: Architecture,
) -> miette::Result<()> {
    let has_pip = Command::new(python)
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_pip {
        return Err(miette!(
            help = "install Python 3 with pip (Debian: apt-get install python3-pip), or remove requirements.txt and zip the dependencies yourself",
            "`{python} -m pip` is not available, but the upstream's source has a requirements.txt to install for Lambda"
        ));
    }
    let output = Command::new(python)
        .args(pip_args(target, python_version, architecture))
        .output()
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot run {python} -m pip"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(miette!(
            help = "every requirement needs a binary wheel for Lambda's platform (manylinux2014, this architecture and Python version): pin versions that publish one",
            "installing the upstream's requirements.txt failed:\n{}",
            tail.join("\n")
        ));
    }
    Ok(())
}

/// The zip: entries in `entries`' (sorted) order, dated 1980-01-01, files 0755 when executable
/// and 0644 otherwise, symlinks as symlinks.
fn zip_entries(
    dir: &Path,
    entries: &std::collections::BTreeMap<PathBuf, Entry>,
) -> miette::Result<Vec<u8>> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    let mut unzipped = 0u64;
    for (relative, entry) in entries {
        let name = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        match entry {
            Entry::File { path, executable } => {
                let bytes = std::fs::read(dir.join(path))
                    .into_diagnostic()
                    .wrap_err_with(|| format!("cannot read {}", dir.join(path).display()))?;
                unzipped += bytes.len() as u64;
                let mode = if *executable { 0o755 } else { 0o644 };
                writer
                    .start_file(name, base.unix_permissions(mode))
                    .into_diagnostic()?;
                writer.write_all(&bytes).into_diagnostic()?;
            }
            Entry::Symlink { target } => {
                writer
                    .add_symlink(name, target.to_string_lossy(), base)
                    .into_diagnostic()?;
            }
        }
    }
    if unzipped > MAX_UNZIPPED_BYTES {
        return Err(miette!(
            help = "leave build caches and test data out of upstream.function.source, or use upstream.function.image (up to 10 GB)",
            "the upstream's code is {} MB unzipped, above the 250 MB Lambda allows a function with its layers",
            unzipped / (1024 * 1024)
        ));
    }
    Ok(writer.finish().into_diagnostic()?.into_inner())
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, io::Read};

    use super::*;
    use crate::stage::config;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mcpctl-upstream-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn function(extra: &str) -> UpstreamFunctionConfig {
        config::from_yaml(
            &format!(
                "upstream:\n  function:\n    source: upstream\n    runtime: python3.12\n    handler: run.sh\n{extra}"
            ),
            "config/test.yaml",
            "test",
            &BTreeMap::new(),
        )
        .unwrap()
        .upstream
        .unwrap()
        .function
        .unwrap()
    }

    /// A project root with `upstream/run.sh` (executable) and `upstream/server.py`.
    fn project(name: &str) -> PathBuf {
        let root = scratch(name);
        let source = root.join("upstream");
        std::fs::create_dir_all(source.join("lib")).unwrap();
        std::fs::write(source.join("run.sh"), "#!/bin/sh\nexec python3 server.py\n").unwrap();
        std::fs::write(source.join("server.py"), "print('hi')\n").unwrap();
        std::fs::write(source.join("lib/util.py"), "X = 1\n").unwrap();
        #[cfg(unix)]
        chmod(&source.join("run.sh"), 0o775);
        root
    }

    fn names_and_modes(path: &Path) -> Vec<(String, Option<u32>)> {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        (0..archive.len())
            .map(|index| {
                let entry = archive.by_index(index).unwrap();
                (
                    entry.name().unwrap().to_string(),
                    entry.unix_mode().map(|mode| mode & 0o777),
                )
            })
            .collect()
    }

    fn message(error: &miette::Report) -> String {
        error.to_string()
    }

    const CONFIG: &str = "config/test.yaml";

    #[test]
    fn secrets_in_the_source_are_refused_and_an_example_env_is_not() {
        for secret in [
            ".env",
            ".env.production",
            "tls/server.pem",
            "deploy.key",
            ".npmrc",
            "id_rsa",
            ".aws/credentials",
        ] {
            let root = project(&format!("secret-{}", secret.replace(['/', '.'], "_")));
            let path = root.join("upstream").join(secret);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "SECRET=1\n").unwrap();
            let error =
                build(&root, Path::new(CONFIG), &function(""), &root.join("out")).unwrap_err();
            assert!(
                message(&error).contains("looks like a secret"),
                "{secret}: {error}"
            );
            let _ = std::fs::remove_dir_all(&root);
        }
        let root = project("env-example");
        std::fs::write(root.join("upstream/.env.example"), "SECRET=\n").unwrap();
        assert!(build(&root, Path::new(CONFIG), &function(""), &root.join("out")).is_ok());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[cfg(unix)]
    #[test]
    fn a_chain_of_links_that_leaves_the_directory_is_refused() {
        let root = project("link-chain");
        let source = root.join("upstream");
        std::fs::write(root.join("outside.txt"), "private\n").unwrap();
        std::os::unix::fs::symlink("..", source.join("lib/up")).unwrap();
        std::os::unix::fs::symlink("lib/up/../outside.txt", source.join("c")).unwrap();
        let error = build(&root, Path::new(CONFIG), &function(""), &root.join("out")).unwrap_err();
        assert!(message(&error).contains("outside the directory"), "{error}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_zip_is_deterministic_sorted_and_keeps_the_executable_bit() {
        let root = project("deterministic");
        let source = root.join("upstream");
        // What is never shipped.
        for excluded in [
            ".git/config",
            "__pycache__/server.cpython-312.pyc",
            ".venv/bin/python",
            "lib/util.pyc",
        ] {
            let path = source.join(excluded);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        // node_modules ships (a TypeScript server needs it), its .bin links as links.
        std::fs::create_dir_all(source.join("node_modules/pkg")).unwrap();
        std::fs::write(source.join("node_modules/pkg/cli.js"), "//").unwrap();
        #[cfg(unix)]
        {
            std::fs::create_dir_all(source.join("node_modules/.bin")).unwrap();
            std::os::unix::fs::symlink("../pkg/cli.js", source.join("node_modules/.bin/pkg"))
                .unwrap();
        }
        let out = root.join("target/lambda");
        let first = build(&root, Path::new(CONFIG), &function(""), &out).unwrap();
        assert_eq!(first.path, out.join("arm64/mcpctl-upstream.zip"));
        let names = names_and_modes(&first.path);
        let mut expected = vec![("lib/util.py".to_owned(), Some(0o644))];
        #[cfg(unix)]
        expected.push(("node_modules/.bin/pkg".to_owned(), Some(0o777)));
        expected.extend([
            ("node_modules/pkg/cli.js".to_owned(), Some(0o644)),
            ("run.sh".to_owned(), Some(0o755)),
            ("server.py".to_owned(), Some(0o644)),
        ]);
        assert_eq!(names, expected);
        // Touched files and another umask give the same bytes, so the same S3 key.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(source.join("server.py"), "print('hi')\n").unwrap();
        #[cfg(unix)]
        chmod(&source.join("server.py"), 0o664);
        let second = build(&root, Path::new(CONFIG), &function(""), &out).unwrap();
        assert_eq!(
            (second.sha256.clone(), second.size),
            (first.sha256.clone(), first.size)
        );
        std::fs::write(source.join("server.py"), "print('changed')\n").unwrap();
        let third = build(&root, Path::new(CONFIG), &function(""), &out).unwrap();
        assert_ne!(third.sha256, first.sha256);
        // The content is the file's.
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&third.path).unwrap()).unwrap();
        let mut text = String::new();
        archive
            .by_name("server.py")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "print('changed')\n");
        // x86_64 has its own zip.
        let x86 = build(
            &root,
            Path::new(CONFIG),
            &function("    architecture: x86_64\n"),
            &out,
        )
        .unwrap();
        assert_eq!(x86.path, out.join("x86_64/mcpctl-upstream.zip"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_source_that_holds_the_output_directory_does_not_zip_itself() {
        let root = project("self");
        let out = root.join("upstream/target/lambda");
        let first = build(&root, Path::new(CONFIG), &function(""), &out).unwrap();
        let second = build(&root, Path::new(CONFIG), &function(""), &out).unwrap();
        assert_eq!(first.sha256, second.sha256);
        assert!(
            names_and_modes(&second.path)
                .iter()
                .all(|(name, _)| !name.starts_with("target/lambda"))
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_missing_or_empty_source_and_a_missing_handler_name_the_field() {
        let root = scratch("missing");
        let out = root.join("out");
        let error = message(&build(&root, Path::new(CONFIG), &function(""), &out).unwrap_err());
        assert!(
            error.starts_with(&format!(
                "config/test.yaml: upstream.function.source: {} does not exist; create it",
                root.join("upstream").display()
            )),
            "{error}"
        );
        std::fs::create_dir_all(root.join("upstream/__pycache__")).unwrap();
        std::fs::write(root.join("upstream/__pycache__/x.pyc"), "x").unwrap();
        let error = message(&build(&root, Path::new(CONFIG), &function(""), &out).unwrap_err());
        assert!(
            error.contains("upstream.function.source: ") && error.contains("is empty"),
            "{error}"
        );
        std::fs::write(root.join("upstream/server.py"), "").unwrap();
        let error = message(&build(&root, Path::new(CONFIG), &function(""), &out).unwrap_err());
        assert_eq!(
            error,
            "config/test.yaml: upstream.function.handler: upstream/run.sh does not exist; add the start script that runs the server on upstream.function.port, e.g. upstream/run.sh with `exec python3 server.py`, or fix the name"
        );
        std::fs::write(root.join("upstream/run.sh"), "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            chmod(&root.join("upstream/run.sh"), 0o644);
            let error = message(&build(&root, Path::new(CONFIG), &function(""), &out).unwrap_err());
            assert!(
                error.starts_with("config/test.yaml: upstream.function.handler: upstream/run.sh is not executable, so the web adapter cannot start it; run `chmod +x upstream/run.sh`"),
                "{error}"
            );
        }
        // Without the adapter, the handler names a module.
        let own = function("    web_adapter: false\n").clone();
        let mut own = own;
        own.handler = Some("app.handler".into());
        let error = message(&build(&root, Path::new(CONFIG), &own, &out).unwrap_err());
        assert!(
            error.contains(
                "upstream.function.handler: `app.handler` names app.py, which is not in upstream"
            ),
            "{error}"
        );
        own.handler = Some("server.handler".into());
        assert!(build(&root, Path::new(CONFIG), &own, &out).is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_source_are_refused() {
        let root = project("links");
        std::os::unix::fs::symlink("/etc/passwd", root.join("upstream/passwd")).unwrap();
        let error = message(
            &build(&root, Path::new(CONFIG), &function(""), &root.join("out")).unwrap_err(),
        );
        assert!(error.contains("upstream.function.source: passwd is a symbolic link to /etc/passwd, outside the directory"), "{error}");
        std::fs::remove_file(root.join("upstream/passwd")).unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("upstream/lib/up")).unwrap();
        assert!(build(&root, Path::new(CONFIG), &function(""), &root.join("out")).is_err());
        assert!(stays_inside(Path::new("a/b"), Path::new("../c")));
        assert!(!stays_inside(Path::new("a/b"), Path::new("../../c")));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn requirements_are_installed_for_lambdas_platform_with_binary_wheels_only() {
        assert_eq!(
            pip_args(Path::new("/s"), "3.12", Architecture::Arm64).join(" "),
            "-m pip install --disable-pip-version-check --no-input --quiet -r /s/requirements.txt --target /s --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all:"
        );
        assert!(
            pip_args(Path::new("/s"), "3.13", Architecture::X86_64)
                .join(" ")
                .contains(
                    "--platform manylinux2014_x86_64 --implementation cp --python-version 3.13"
                )
        );
        let error = install_requirements(
            "mcpctl-no-such-python",
            Path::new("/s"),
            "3.12",
            Architecture::Arm64,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`mcpctl-no-such-python -m pip` is not available, but the upstream's source has a requirements.txt to install for Lambda"
        );
    }
}
