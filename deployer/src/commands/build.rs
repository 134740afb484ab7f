//! `mcpctl build`: the server crate's bin for Lambda (`provided.al2023`), zipped reproducibly as
//! `bootstrap`; with `--stage` in gateway mode also the upstream server's zip
//! (`upstream.function.source`).

use std::{path::PathBuf, process::ExitCode, time::Instant};

use miette::IntoDiagnostic;

use crate::{
    artifact::{self, Arch, Artifact},
    cli::OutputFormat,
    project::{self, ProjectArgs},
    stage,
};

/// Arguments of `mcpctl build`.
#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// CPU architecture (arm64 is Graviton, cheaper per millisecond).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) arch: Arch,
    /// Also build what this stage's configuration needs besides the crate: the upstream
    /// server's zip in gateway mode (`upstream.function.source`).
    #[arg(long)]
    pub(crate) stage: Option<String>,
    /// Directory of the stage configurations (default: the server crate's config/, else ./config).
    #[arg(long, value_name = "DIR", env = "MCPCTL_CONFIG_DIR")]
    pub(crate) config_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
}

pub(crate) fn run(args: BuildArgs) -> miette::Result<ExitCode> {
    let start = Instant::now();
    // The upstream first: it is quick, and a mistake in its directory shows before cargo runs.
    let (upstream, project) = match &args.stage {
        Some(stage_name) => {
            let project = args.project.find()?;
            let config_dir = project::config_dir(args.config_dir.as_deref(), project.as_ref());
            let config = stage::load(&config_dir, stage_name, &stage::env_overrides())?;
            let built = artifact::upstream::for_stage(&config, &config_dir, project.as_ref())?;
            if built.is_none() {
                eprintln!(
                    "stage {stage_name} has no upstream.function.source: no upstream zip to build"
                );
            }
            (built, project)
        }
        None => (None, None),
    };
    // A gateway-only project (a config/ directory and the upstream's, no crate) has no bin.
    let project = match project {
        Some(project) => Some(project),
        None if upstream.is_some() => None,
        None => Some(args.project.require()?),
    };
    let built = match &project {
        Some(project) => {
            eprintln!(
                "building {} (bin {}) for {} (profile `lambda`: release, optimised for size)",
                project.package,
                project.bin,
                args.arch.target()
            );
            let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
            Some(artifact::build(project, args.arch, interactive)?)
        }
        None => {
            eprintln!("no server crate here: built the upstream zip only");
            None
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    match args.output {
        OutputFormat::Json => {
            let mut value = match &built {
                Some(built) => serde_json::to_value(built).into_diagnostic()?,
                None => serde_json::json!({}),
            };
            if let Some(upstream) = &upstream {
                value["upstream"] = serde_json::to_value(upstream).into_diagnostic()?;
            }
            value["build_seconds"] = serde_json::json!((seconds * 10.0).round() / 10.0);
            println!("{value}");
        }
        OutputFormat::Text => {
            if let Some(built) = &built {
                print_artifact("", built);
            }
            if let Some(upstream) = &upstream {
                print_artifact("upstream ", upstream);
            }
            eprintln!("built in {seconds:.1} s");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_artifact(label: &str, built: &Artifact) {
    println!("{label}{}", built.path.display());
    println!(
        "{label}size    {} bytes ({:.2} MB)",
        built.size,
        built.size as f64 / 1_000_000.0
    );
    println!("{label}sha256  {}", built.sha256);
}
