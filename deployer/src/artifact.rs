//! The Lambda artifact: the server crate's bin built for `provided.al2023`, and a byte-for-byte
//! reproducible zip of it (fixed timestamp, fixed permissions, one entry), keyed by its SHA-256.
//! cargo-lambda's own zip stamps the build time, so the zip is written here.

use std::{
    io::{Cursor, Write},
    path::{Path, PathBuf},
    process::Command,
};

use aws_lc_rs::digest;
use base64::{Engine, engine::general_purpose::STANDARD};
use miette::{IntoDiagnostic, WrapErr, miette};
use zip::{CompressionMethod, DateTime, ZipWriter, write::SimpleFileOptions};

use crate::{project::Project, stage::config::Architecture};

mod build_progress;
pub(crate) mod upstream;

/// CPU architecture of the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Arch {
    /// Graviton: cheaper per millisecond.
    #[default]
    Arm64,
    /// x86-64.
    X86_64,
}

impl Arch {
    /// The directory name under `target/lambda` (and Lambda's name for the architecture).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Arm64 => "arm64",
            Self::X86_64 => "x86_64",
        }
    }

    /// The Rust target triple.
    pub(crate) fn target(self) -> &'static str {
        match self {
            Self::Arm64 => "aarch64-unknown-linux-gnu",
            Self::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }
}

impl From<Architecture> for Arch {
    fn from(architecture: Architecture) -> Self {
        match architecture {
            Architecture::Arm64 => Self::Arm64,
            Architecture::X86_64 => Self::X86_64,
        }
    }
}

/// A built artifact.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Artifact {
    /// Zip path.
    pub(crate) path: PathBuf,
    /// Zip size in bytes.
    pub(crate) size: u64,
    /// Hex SHA-256 of the zip (the S3 key).
    pub(crate) sha256: String,
    /// Base64 SHA-256, as Lambda reports `CodeSha256`.
    pub(crate) sha256_base64: String,
    /// Architecture.
    pub(crate) arch: Arch,
}

/// A zip holding `binary` as `bootstrap`, mode 0755, dated 1980-01-01: the same input always
/// gives the same bytes.
pub(crate) fn reproducible_zip(binary: &[u8]) -> miette::Result<Vec<u8>> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(DateTime::default());
    writer.start_file("bootstrap", options).into_diagnostic()?;
    writer.write_all(binary).into_diagnostic()?;
    Ok(writer.finish().into_diagnostic()?.into_inner())
}

/// Describes a zip already on disk.
pub(crate) fn describe(path: &Path, arch: Arch) -> miette::Result<Artifact> {
    let bytes = std::fs::read(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let sha = digest::digest(&digest::SHA256, &bytes);
    Ok(Artifact {
        path: path.to_owned(),
        size: bytes.len() as u64,
        sha256: sha.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        sha256_base64: STANDARD.encode(sha.as_ref()),
        arch,
    })
}

/// Where cargo-lambda writes `<bin>/bootstrap` for `project` on `arch`: named explicitly, so it
/// does not depend on how cargo-lambda works out the target directory; per architecture, beside
/// the zip; and not cargo-lambda's default `<target>/lambda`, which is also where a plain `cargo
/// build --profile lambda` puts its `<bin>` file (cargo-lambda then cannot make `<bin>/` there).
fn lambda_dir(project: &Project, arch: Arch) -> PathBuf {
    project
        .target_dir
        .join("lambda")
        .join(arch.as_str())
        .join("bin")
}

/// The `cargo lambda build` of `project`'s bin for `arch`, writing under `lambda_dir`.
fn cargo_lambda_build(project: &Project, arch: Arch, lambda_dir: &Path) -> Command {
    let mut command = Command::new("cargo");
    // From the manifest's directory, as `cargo metadata` ran: cargo reads `.cargo/config.toml`
    // from the current directory.
    command
        .current_dir(project.manifest.parent().unwrap_or(Path::new(".")))
        .args([
            "lambda",
            "build",
            "--profile",
            "lambda",
            "--target",
            arch.target(),
        ])
        .arg("--manifest-path")
        .arg(&project.manifest)
        .args(["--package", &project.package, "--bin", &project.bin])
        // The Lambda host and the AWS stores; off by default so `mcpctl dev` and a crate's own
        // tests build without the AWS SDK.
        .args(["--features", "mcpctl-handler/aws"])
        .arg("--lambda-dir")
        .arg(lambda_dir);
    if let Some(value) = no_jitter_entropy(std::env::var_os(NO_JITTER_ENTROPY_VAR)) {
        command.env(NO_JITTER_ENTROPY_VAR, value);
    }
    command
}

/// What the Lambda build sets aws-lc-sys's jitter switch to: on ("1") unless the caller chose,
/// in the environment (a crate's `.cargo/config.toml` `[env]` loses to the variable set here).
/// aws-lc seeds from the kernel (getrandom) either way; its CPU-jitter source costs 20–30 ms of
/// CPU at a process's first random number, and on Lambda that is every cold start.
fn no_jitter_entropy(current: Option<std::ffi::OsString>) -> Option<&'static str> {
    current.is_none().then_some("1")
}

/// aws-lc-sys's build switch for its CPU-jitter entropy source.
const NO_JITTER_ENTROPY_VAR: &str = "AWS_LC_SYS_NO_JITTER_ENTROPY";

fn tool_available(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Where `mcpctl build` writes the zip of `project` for `arch`:
/// `<target dir>/lambda/<arch>/<package>.zip`, named by package so crates sharing one target
/// directory (CARGO_TARGET_DIR) keep their own builds apart.
pub(crate) fn zip_path(project: &Project, arch: Arch) -> PathBuf {
    project
        .target_dir
        .join("lambda")
        .join(arch.as_str())
        .join(format!("{}.zip", project.package))
}

/// Builds the project's bin for Lambda with cargo-lambda (Zig as the cross linker) and writes the
/// zip to [`zip_path`]; the zip holds the binary as `bootstrap` whatever the bin's name. Missing
/// tools are named with the way to install them.
/// `interactive`: stderr is a terminal (a spinner instead of periodic lines).
pub(crate) fn build(project: &Project, arch: Arch, interactive: bool) -> miette::Result<Artifact> {
    if !tool_available("cargo", &["lambda", "--version"]) {
        return Err(miette!(
            help = "install it with `pip install cargo-lambda ziglang` (or see https://www.cargo-lambda.info), then run again",
            "cargo-lambda is not installed: it cross-compiles the handler for AWS Lambda"
        ));
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == arch.target()) {
        return Err(miette!(
            help = format!("install it with `rustup target add {}`", arch.target()),
            "the Rust target {} is not installed",
            arch.target()
        ));
    }
    let lambda_dir = lambda_dir(project, arch);
    let mut command = cargo_lambda_build(project, arch, &lambda_dir);
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .into_diagnostic()
        .wrap_err("cannot run cargo lambda")?;
    let mut progress = build_progress::BuildProgress::start(
        &format!(
            "building {} for {} (profile `lambda`)",
            project.package,
            arch.target()
        ),
        interactive,
    );
    let stderr = child
        .stderr
        .take()
        .map(|pipe| progress.follow(pipe))
        .unwrap_or_default();
    let status = child
        .wait()
        .into_diagnostic()
        .wrap_err("cannot wait for cargo lambda")?;
    progress.finish(status.success());
    if !status.success() {
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .filter(|l| l.contains("error") || l.contains("Zig"))
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let hint = if stderr.contains("Zig is not installed")
            || stderr.contains("zig") && stderr.contains("not found")
        {
            "install Zig with `pip install ziglang` (cargo-lambda finds it through `python3 -m ziglang`)".to_owned()
        } else {
            format!(
                "run `cargo lambda build --profile lambda --manifest-path {} -p {} --bin {}` to see the full output",
                project.manifest.display(),
                project.package,
                project.bin
            )
        };
        return Err(miette!(
            help = hint,
            "building the Lambda binary of {} failed:\n{}",
            project.package,
            tail.join("\n")
        ));
    }
    // cargo-lambda writes each bin to `<lambda dir>/<bin>/bootstrap`.
    let binary_path = lambda_dir.join(&project.bin).join("bootstrap");
    let binary = std::fs::read(&binary_path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cargo lambda produced no {}", binary_path.display()))?;
    let zip_path = zip_path(project, arch);
    if let Some(dir) = zip_path.parent() {
        std::fs::create_dir_all(dir).into_diagnostic()?;
    }
    std::fs::write(&zip_path, reproducible_zip(&binary)?).into_diagnostic()?;
    describe(&zip_path, arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_build_writes_apart_from_cargo_and_without_jitter_entropy() {
        let project = Project {
            manifest: PathBuf::from("/work/crate/Cargo.toml"),
            root: PathBuf::from("/work/crate"),
            package: "my-server".into(),
            bin: "bootstrap".into(),
            target_dir: PathBuf::from("/work/crate/target"),
            workspace_root: PathBuf::from("/work/crate"),
            config_dir: PathBuf::from("/work/crate/config"),
            builtin: false,
        };
        // Not `target/lambda`, where `cargo build --profile lambda` writes a `bootstrap` file.
        assert_eq!(
            lambda_dir(&project, Arch::Arm64),
            Path::new("/work/crate/target/lambda/arm64/bin")
        );
        let command = cargo_lambda_build(&project, Arch::Arm64, &lambda_dir(&project, Arch::Arm64));
        let args: Vec<_> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for expected in [
            "--profile",
            "lambda",
            "aarch64-unknown-linux-gnu",
            "my-server",
            "mcpctl-handler/aws",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} in {args:?}");
        }
        let set = command
            .get_envs()
            .find(|(name, _)| *name == NO_JITTER_ENTROPY_VAR);
        assert_eq!(
            set.and_then(|(_, value)| value).map(|v| v.to_owned()),
            no_jitter_entropy(std::env::var_os(NO_JITTER_ENTROPY_VAR)).map(Into::into)
        );
        assert_eq!(no_jitter_entropy(None), Some("1"));
        assert_eq!(
            no_jitter_entropy(Some("0".into())),
            None,
            "the caller's choice stands"
        );
    }

    #[test]
    fn the_zip_is_reproducible_and_executable() {
        let one = reproducible_zip(b"binary bytes").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let two = reproducible_zip(b"binary bytes").unwrap();
        assert_eq!(one, two, "same input, same bytes");
        assert_ne!(one, reproducible_zip(b"other bytes").unwrap());
        let mut archive = zip::ZipArchive::new(Cursor::new(one)).unwrap();
        assert_eq!(archive.len(), 1);
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    }
}
