//! Prompts (and the completion of their arguments).

use rmcp::{
    ErrorData, RoleServer,
    handler::server::{
        prompt::IntoGetPromptResult, router::prompt::PromptRouter, wrapper::Parameters,
    },
    model::{
        ContentBlock, ElicitResult, GetPromptResponse, GetPromptResult, InputRequiredResult,
        InputResponses, PromptMessage, Reference, ResourceContents, Role,
    },
    prompt, prompt_router,
    service::RequestContext,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    Everything,
    conformance::{self, Need, PNG_1X1},
};

/// The MRTR answers of a `prompts/get` request (`inputResponses`), which rmcp's prompt router
/// does not pass on; `get_prompt` puts them in the request context's extensions. (No prompt here
/// keeps `requestState`: each round asks again for what is missing.)
#[derive(Debug, Clone, Default)]
pub(crate) struct Continuation {
    /// The client's answers to the previous round's input requests.
    pub(crate) input_responses: Option<InputResponses>,
}

impl Continuation {
    /// The continuation carried by `context`, empty on a first round.
    pub(crate) fn of(context: &RequestContext<RoleServer>) -> Self {
        context
            .extensions
            .get::<Self>()
            .cloned()
            .unwrap_or_default()
    }
}

/// A prompt result that may first need a round of client input (MRTR).
pub(crate) struct PromptOutcome(GetPromptResponse);

impl From<GetPromptResult> for PromptOutcome {
    fn from(result: GetPromptResult) -> Self {
        Self(result.into())
    }
}

impl From<InputRequiredResult> for PromptOutcome {
    fn from(result: InputRequiredResult) -> Self {
        Self(result.into())
    }
}

impl IntoGetPromptResult for PromptOutcome {
    fn into_get_prompt_result(self) -> Result<GetPromptResponse, ErrorData> {
        Ok(self.0)
    }
}

/// Arguments of `summarize`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SummarizeArgs {
    /// The text to summarize.
    pub text: String,
    /// `brief`, `detailed` or `bullet-points`.
    pub style: Option<String>,
}

/// Arguments of the conformance prompt with arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct TwoArgs {
    /// First argument.
    pub arg1: String,
    /// Second argument.
    pub arg2: String,
}

/// Arguments of the conformance prompt with an embedded resource.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceArg {
    /// URI of the resource to embed.
    pub resource_uri: String,
}

const STYLES: &[&str] = &["brief", "detailed", "bullet-points"];

#[expect(
    missing_docs,
    reason = "rmcp's #[prompt] generates undocumented helper functions"
)]
#[prompt_router(router = "own_prompts", vis = "pub(crate)")]
impl Everything {
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
impl Everything {
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

    /// Conformance fixture: asks the user for context (MRTR elicitation) before it can be built.
    #[prompt(
        name = "test_input_required_result_prompt",
        description = "A prompt that first asks the user what context to use"
    )]
    async fn test_input_required_result_prompt(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<PromptOutcome, ErrorData> {
        conformance::require(&context, &[Need::Elicitation])?;
        let continuation = Continuation::of(&context);
        let Some(reply) = conformance::answer::<ElicitResult>(
            continuation.input_responses.as_ref(),
            "user_context",
        )?
        else {
            return conformance::ask(
                [(
                    "user_context",
                    conformance::elicitation(
                        "What context should the prompt use?",
                        "context",
                        "string",
                    )?,
                )],
                None,
            );
        };
        let text = match conformance::accepted(&reply, "context")? {
            Some(serde_json::Value::String(user_context)) => {
                format!("Answer with this context in mind: {user_context}")
            }
            Some(_) => {
                return Err(ErrorData::invalid_params(
                    "inputResponses.user_context.content.context must be a string",
                    None,
                ));
            }
            None => "Answer without any extra context (the user gave none).".to_owned(),
        };
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).into())
    }
}

/// Every prompt this server offers.
pub(crate) fn router() -> PromptRouter<Everything> {
    Everything::own_prompts() + Everything::conformance_prompts()
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
