//! `mcpctl build`: the server crate's bin for Lambda (`provided.al2023`), zipped reproducibly as
//! `bootstrap`.

use std::{process::ExitCode, time::Instant};

use miette::IntoDiagnostic;

use crate::{
    artifact::{self, Arch},
    cli::OutputFormat,
    project::ProjectArgs,
};

/// Arguments of `mcpctl build`.
#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// CPU architecture (arm64 is Graviton, cheaper per millisecond).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) arch: Arch,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
}

pub(crate) fn run(args: BuildArgs) -> miette::Result<ExitCode> {
    let project = args.project.require()?;
    eprintln!(
        "building {} (bin {}) for {} (profile `lambda`: release, optimised for size)",
        project.package,
        project.bin,
        args.arch.target()
    );
    let start = Instant::now();
    let built = artifact::build(&project, args.arch)?;
    let seconds = start.elapsed().as_secs_f64();
    match args.output {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(&built).into_diagnostic()?;
            value["build_seconds"] = serde_json::json!((seconds * 10.0).round() / 10.0);
            println!("{value}");
        }
        OutputFormat::Text => {
            println!("{}", built.path.display());
            println!(
                "size    {} bytes ({:.2} MB)",
                built.size,
                built.size as f64 / 1_000_000.0
            );
            println!("sha256  {}", built.sha256);
            eprintln!("built in {seconds:.1} s");
        }
    }
    Ok(ExitCode::SUCCESS)
}
