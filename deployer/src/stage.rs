//! The stack definition of a stage: the typed configuration (`config/<stage>.yaml`), the
//! CloudFormation fragments (`templates/*.yaml`) and the renderer that makes one template of them.
//!
//! `mcpctl render` prints the result; `mcpctl deploy` calls the same two functions:
//!
//! ```text
//! let config = stage::load(Path::new(stage::DEFAULT_CONFIG_DIR), "prod", &stage::env_overrides())?;
//! let rendered = stage::render(&config, &stage::TemplateSource::Embedded)?;
//! // rendered.body: the YAML to deploy, with the stage::names::parameter::DEPLOY_TIME
//! // parameters; afterwards read the stage::names::output::* outputs from the stack.
//! ```

pub(crate) mod config;
pub(crate) mod names;
pub(crate) mod template;
pub(crate) mod yaml;

pub(crate) use config::{DEFAULT_CONFIG_DIR, env_overrides, load};
pub(crate) use template::{MAX_INLINE_TEMPLATE_BYTES, TemplateSource, render};
