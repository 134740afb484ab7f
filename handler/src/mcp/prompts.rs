//! Prompts (and the completion of their arguments).

use rmcp::{
    handler::server::{router::prompt::PromptRouter, wrapper::Parameters},
    model::{ContentBlock, PromptMessage, Reference, ResourceContents, Role},
    prompt, prompt_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{McpServer, conformance::PNG_1X1};

/// Arguments of `summarize`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SummarizeArgs {
    /// The text to summarize.
    pub text: String,
    /// `brief`, `detailed` or `bullet-points`.
    pub style: Option<String>,
}

/// Arguments of the conformance prompt with arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TwoArgs {
    /// First argument.
    pub arg1: String,
    /// Second argument.
    pub arg2: String,
}

/// Arguments of the conformance prompt with an embedded resource.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceArg {
    /// URI of the resource to embed.
    pub resource_uri: String,
}

const STYLES: &[&str] = &["brief", "detailed", "bullet-points"];

#[expect(
    missing_docs,
    reason = "rmcp's #[prompt] generates undocumented helper functions"
)]
#[prompt_router(router = "own_prompts", vis = "pub(crate)")]
impl McpServer {
    /// Asks the model to summarize a text.
    #[prompt(name = "summarize", description = "Summarize a text in a chosen style")]
    async fn summarize(&self, Parameters(args): Parameters<SummarizeArgs>) -> Vec<PromptMessage> {
        let style = args.style.as_deref().unwrap_or("brief");
        vec![PromptMessage::new_text(
            Role::User,
            format!("Summarize the following text ({style}):\n\n{}", args.text),
        )]
    }
}

#[expect(
    missing_docs,
    reason = "rmcp's #[prompt] generates undocumented helper functions"
)]
#[prompt_router(router = "conformance_prompts", vis = "pub(crate)")]
impl McpServer {
    /// Conformance fixture: no arguments.
    #[prompt(
        name = "test_simple_prompt",
        description = "A simple prompt without arguments"
    )]
    async fn test_simple_prompt(&self) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            "This is a simple prompt for testing.",
        )]
    }

    /// Conformance fixture: two required arguments.
    #[prompt(
        name = "test_prompt_with_arguments",
        description = "A prompt with required arguments"
    )]
    async fn test_prompt_with_arguments(
        &self,
        Parameters(TwoArgs { arg1, arg2 }): Parameters<TwoArgs>,
    ) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"),
        )]
    }

    /// Conformance fixture: an embedded resource.
    #[prompt(
        name = "test_prompt_with_embedded_resource",
        description = "A prompt that includes an embedded resource"
    )]
    async fn test_prompt_with_embedded_resource(
        &self,
        Parameters(ResourceArg { resource_uri }): Parameters<ResourceArg>,
    ) -> Vec<PromptMessage> {
        vec![
            PromptMessage::new(
                Role::User,
                ContentBlock::resource(ResourceContents::text(
                    "Embedded resource content for testing.",
                    resource_uri,
                )),
            ),
            PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
        ]
    }

    /// Conformance fixture: an image.
    #[prompt(
        name = "test_prompt_with_image",
        description = "A prompt that includes image content"
    )]
    async fn test_prompt_with_image(&self) -> Vec<PromptMessage> {
        vec![
            PromptMessage::new(Role::User, ContentBlock::image(PNG_1X1, "image/png")),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ]
    }
}

/// Every prompt this server offers.
pub(crate) fn router(conformance_pack: bool) -> PromptRouter<McpServer> {
    let mut router = McpServer::own_prompts();
    if conformance_pack {
        router += McpServer::conformance_prompts();
    }
    router
}

/// Completion values for a prompt argument, filtered by the typed prefix.
pub(crate) fn complete(reference: &Reference, argument: &str, prefix: &str) -> Vec<String> {
    let candidates: &[&str] = match reference {
        Reference::Prompt(prompt) => match (prompt.name.as_str(), argument) {
            ("summarize", "style") => STYLES,
            ("test_prompt_with_arguments", "arg1") => &["paris", "park", "party"],
            ("test_prompt_with_arguments", "arg2") => &["red", "green", "blue"],
            _ => &[],
        },
        _ => &[],
    };
    candidates
        .iter()
        .filter(|c| c.starts_with(prefix))
        .map(|c| (*c).to_owned())
        .collect()
}
