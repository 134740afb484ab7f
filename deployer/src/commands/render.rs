//! `mcpctl render`: the CloudFormation template of a stage, from the built-in (or `--templates`)
//! fragments and `config/<stage>.yaml`. The template goes to stdout (or `-o FILE`), as YAML or
//! with `--output json` as CloudFormation JSON; messages go to stderr.

use std::{io::Write, path::PathBuf, process::ExitCode};

use miette::{IntoDiagnostic, WrapErr};

use crate::{
    cli::OutputFormat,
    project::ProjectArgs,
    stage::{self, TemplateSource},
};

/// Arguments of `mcpctl render`.
#[derive(Debug, clap::Args)]
pub(crate) struct RenderArgs {
    /// Stage: reads <config-dir>/<stage>.yaml.
    #[arg(long, default_value = "dev", env = "MCPCTL_STAGE")]
    pub(crate) stage: String,
    /// Write the template to FILE instead of stdout.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub(crate) output_file: Option<PathBuf>,
    /// Read the template fragments (every *.yaml) from DIR instead of the ones built into mcpctl.
    #[arg(long, value_name = "DIR", env = "MCPCTL_TEMPLATES")]
    pub(crate) templates: Option<PathBuf>,
    /// Directory of the stage configurations (default: the server crate's config/, else ./config).
    #[arg(long, value_name = "DIR", env = "MCPCTL_CONFIG_DIR")]
    pub(crate) config_dir: Option<PathBuf>,
    /// The template's format: YAML (text) or CloudFormation JSON (json; errors too are JSON).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
    #[command(flatten)]
    pub(crate) project: ProjectArgs,
}

pub(crate) fn run(args: RenderArgs) -> miette::Result<ExitCode> {
    let config_dir = args.project.config_dir(args.config_dir.as_deref())?;
    let config = stage::load(&config_dir, &args.stage, &stage::env_overrides())?;
    let source = match args.templates {
        Some(dir) => TemplateSource::Dir(dir),
        None => TemplateSource::Embedded,
    };
    let rendered = stage::render(&config, &source)?;
    let body = match args.output {
        OutputFormat::Text => rendered.body.clone(),
        OutputFormat::Json => {
            let value = stage::yaml::to_value(&rendered.template)
                .map_err(|e| miette::miette!("cannot convert the template: {e}"))?;
            let mut json =
                serde_json::to_string_pretty(&stage::yaml::to_cloudformation_json(&value))
                    .into_diagnostic()?;
            json.push('\n');
            json
        }
    };
    let size = body.len();
    match &args.output_file {
        Some(path) => {
            std::fs::write(path, &body)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot write the template to {}", path.display()))?;
            eprintln!(
                "wrote {} ({size} bytes, {} resources): stack {}, stage {}",
                path.display(),
                rendered.template.resources.len(),
                config.stack_name,
                config.stage
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(body.as_bytes())
                .and_then(|()| stdout.flush())
            {
                // `mcpctl render | head`: the reader left; that is not an error.
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
                result => result
                    .into_diagnostic()
                    .wrap_err("cannot write the template to stdout")?,
            }
        }
    }
    if size > stage::MAX_INLINE_TEMPLATE_BYTES {
        eprintln!(
            "note: the template is {size} bytes, above the {} CloudFormation accepts inline; mcpctl deploy uploads it to S3",
            stage::MAX_INLINE_TEMPLATE_BYTES
        );
    }
    Ok(ExitCode::SUCCESS)
}
