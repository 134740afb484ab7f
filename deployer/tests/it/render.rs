//! `mcpctl render`: snapshots of every shipped stage, `-o FILE`, the errors of bad input, and
//! what each identity mode gives the stack (the fixture stages of deployer/tests/fixtures/config).

use serde_yaml::{Mapping, Value};

use crate::support::{
    FIXTURE_CONFIG_DIR, fixture_stages, mcpctl, run, scratch_dir, shipped_stages,
};

#[test]
fn shipped_stages_render_as_their_snapshots() {
    for stage in shipped_stages() {
        let out = run(mcpctl().args(["render", "--stage", &stage]));
        assert!(out.status.success(), "{stage}: {}", out.stderr);
        insta::assert_snapshot!(stage.clone(), out.stdout);
    }
}

#[test]
fn output_file_gets_the_template_and_stdout_stays_empty() {
    let dir = scratch_dir("render-output-file");
    let file = dir.join("dev.yaml");
    let out = run(mcpctl().args(["render", "--stage", "dev", "-o"]).arg(&file));
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(out.message().contains("wrote "), "{}", out.stderr);
    let printed = run(mcpctl().args(["render", "--stage", "dev"])).stdout;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), printed);
}

/// Renders `text` as `config/<stage>.yaml` of a scratch config directory.
fn render_config(name: &str, text: &str) -> crate::support::Run {
    let dir = scratch_dir(name);
    std::fs::write(dir.join("bad.yaml"), text).unwrap();
    run(mcpctl()
        .args(["render", "--stage", "bad", "--config-dir"])
        .arg(&dir))
}

#[test]
fn an_unknown_key_names_file_field_and_choices() {
    let out = render_config("render-unknown-key", "lambda:\n  memroy_mb: 512\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message()
            .contains("bad.yaml: lambda: unknown field `memroy_mb`, expected one of `memory_mb`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_value_names_file_field_and_fix() {
    let out = render_config("render-bad-value", "lambda:\n  memory_mb: 100\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message()
            .contains("bad.yaml: lambda.memory_mb: 100 is below 128; use 128..=10240"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_stage_lists_the_configured_ones() {
    let out = run(mcpctl().args(["render", "--stage", "staging"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message().contains("config/staging.yaml: not found"),
        "{}",
        out.stderr
    );
    assert!(
        out.message()
            .contains("configured stages in config: dev, prod"),
        "{}",
        out.stderr
    );
}

#[test]
fn environment_overrides_the_file_and_is_named_in_errors() {
    let out = run(mcpctl()
        .args(["render", "--stage", "dev"])
        .env("MCPCTL_LAMBDA_MEMORY_MB", "1024"));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains(
        "Description: Memory of each function in MB (config lambda.memory_mb).\n    Default: 1024\n"
    ));

    let out = run(mcpctl()
        .args(["render", "--stage", "dev"])
        .env("MCPCTL_LAMBDA_ARCHITECTURE", "amd64"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message().contains(
            "MCPCTL_LAMBDA_ARCHITECTURE: lambda.architecture: `amd64` is not arm64 or x86_64"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_templates_directory_with_a_duplicate_id_names_both_files() {
    let dir = scratch_dir("render-duplicate-id");
    for entry in std::fs::read_dir(crate::support::workspace_root().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.join("extra.yaml"),
        "Resources:\n  AlarmTopic:\n    Type: AWS::SNS::Topic\n",
    )
    .unwrap();
    let out = run(mcpctl().args(["render", "--templates"]).arg(&dir));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message().contains("AlarmTopic: defined in both "),
        "{}",
        out.stderr
    );
    assert!(out.message().contains("alarms.yaml and "), "{}", out.stderr);
}

// ---- identity: the test fixture stages (deployer/tests/fixtures/config) ----

/// A rendered template read back, with CloudFormation's conditions evaluated for the parameter
/// defaults (the stage values), so tests see what the stack would really get.
struct Stack {
    template: Value,
    text: String,
}

impl Stack {
    fn render(stage: &str, config_dir: &str) -> Self {
        let out = run(mcpctl().args(["render", "--stage", stage, "--config-dir", config_dir]));
        assert!(out.status.success(), "{stage}: {}", out.stderr);
        Self {
            template: serde_yaml::from_str(&out.stdout).unwrap(),
            text: out.stdout,
        }
    }

    fn fixture(stage: &str) -> Self {
        Self::render(stage, FIXTURE_CONFIG_DIR)
    }

    fn parameter(&self, name: &str) -> String {
        self.default(name)
            .unwrap_or_else(|| panic!("parameter {name} has no default"))
    }

    /// A parameter's default; the deploy-time parameters have none.
    fn default(&self, name: &str) -> Option<String> {
        scalar(&self.template["Parameters"][name]["Default"])
    }

    fn condition(&self, name: &str) -> bool {
        self.truth(&self.template["Conditions"][name])
    }

    fn truth(&self, value: &Value) -> bool {
        let (tag, inner) = tagged(value).unwrap_or_else(|| panic!("not a condition: {value:?}"));
        let items = inner.as_sequence();
        match tag.as_str() {
            "Equals" => {
                let items = items.unwrap();
                self.resolve(&items[0]) == self.resolve(&items[1])
            }
            "Not" => !self.truth(&items.unwrap()[0]),
            "And" => items.unwrap().iter().all(|item| self.truth(item)),
            "Or" => items.unwrap().iter().any(|item| self.truth(item)),
            "Condition" => self.condition(inner.as_str().unwrap()),
            other => panic!("unexpected condition function {other}"),
        }
    }

    /// The value with `!If` decided, `!Ref`s to parameters replaced by their defaults and
    /// `AWS::NoValue` removed (`None`); other references stay as `Ref(Name)` or the `!Sub` text.
    fn resolve(&self, value: &Value) -> Option<Value> {
        if let Some((tag, inner)) = tagged(value) {
            return match tag.as_str() {
                "If" => {
                    let items = inner.as_sequence().unwrap();
                    let branch = if self.condition(items[0].as_str().unwrap()) {
                        1
                    } else {
                        2
                    };
                    self.resolve(&items[branch])
                }
                "Ref" => {
                    let name = inner.as_str().unwrap();
                    if name == "AWS::NoValue" {
                        None
                    } else if let Some(default) = self.default(name) {
                        Some(Value::String(default))
                    } else {
                        Some(Value::String(format!("Ref({name})")))
                    }
                }
                "Sub" => {
                    let Some(text) = inner.as_str() else {
                        return Some(value.clone());
                    };
                    let mut text = text.to_owned();
                    if let Some(parameters) = self.template["Parameters"].as_mapping() {
                        for (name, _) in parameters {
                            let name = name.as_str().unwrap();
                            if let Some(default) = self.default(name) {
                                text = text.replace(&format!("${{{name}}}"), &default);
                            }
                        }
                    }
                    Some(Value::String(text))
                }
                _ => Some(value.clone()),
            };
        }
        Some(match value {
            Value::Sequence(items) => {
                Value::Sequence(items.iter().filter_map(|item| self.resolve(item)).collect())
            }
            Value::Mapping(mapping) => Value::Mapping(
                mapping
                    .iter()
                    .filter_map(|(key, item)| Some((key.clone(), self.resolve(item)?)))
                    .collect::<Mapping>(),
            ),
            other => other.clone(),
        })
    }

    /// A resource as the stack would create it, or `None` when its condition is false.
    fn resource(&self, id: &str) -> Option<Value> {
        let resource = &self.template["Resources"][id];
        assert!(!resource.is_null(), "no resource {id}");
        if let Some(condition) = resource["Condition"].as_str()
            && !self.condition(condition)
        {
            return None;
        }
        self.resolve(resource)
    }

    fn output(&self, id: &str) -> Option<Value> {
        let output = &self.template["Outputs"][id];
        assert!(!output.is_null(), "no output {id}");
        if let Some(condition) = output["Condition"].as_str()
            && !self.condition(condition)
        {
            return None;
        }
        self.resolve(&output["Value"])
    }

    /// The environment a function gets.
    fn environment(&self, function: &str) -> std::collections::BTreeMap<String, String> {
        let function = self.resource(function).unwrap();
        function["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(key, value)| (key.as_str().unwrap().to_owned(), scalar(value).unwrap()))
            .collect()
    }

    /// The statements of a role granting `secretsmanager:GetSecretValue`, as (Sid, resource).
    fn secret_grants(&self, role: &str) -> Vec<(String, String)> {
        let role = self.resource(role).unwrap();
        let mut grants = Vec::new();
        for policy in role["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
                let actions = serde_yaml::to_string(&statement["Action"]).unwrap();
                if actions.contains("secretsmanager:") {
                    assert!(
                        actions.trim() == "secretsmanager:GetSecretValue",
                        "{actions}"
                    );
                    grants.push((
                        statement["Sid"].as_str().unwrap_or("(no Sid)").to_owned(),
                        scalar(&statement["Resource"]).unwrap(),
                    ));
                }
            }
        }
        grants
    }
}

fn tagged(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        _ => None,
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// What the auth function gets only with an upstream provider (oidc or cognito).
const UPSTREAM_VARIABLES: [&str; 11] = [
    "MCP_OIDC_ISSUER",
    "MCP_OIDC_CLIENT_ID",
    "MCP_OIDC_CLIENT_SECRET_ARN",
    "MCP_OIDC_SCOPES",
    "MCP_OIDC_CLAIM_EMAIL",
    "MCP_OIDC_CLAIM_NAME",
    "MCP_OIDC_CLAIM_GROUPS",
    "MCP_ALLOWED_EMAIL_DOMAINS",
    "MCP_ALLOWED_GROUPS",
    "MCP_REMEMBER_CONSENT_DAYS",
    "MCP_GROUPS_SCOPE",
];

/// What only the auth function gets, whatever the identity mode: who may register and how
/// long a sign-in lasts are the authorization server's business.
const AUTH_ONLY_VARIABLES: [&str; 5] = [
    "MCP_IDENTITY",
    "MCP_SIGNING_KEY_SECRET_ARN",
    "MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN",
    "MCP_REDIRECT_SCHEMES",
    "MCP_REFRESH_MAX_LIFETIME_SECONDS",
];

/// Only the auth function learns anything about identity (or any secret's ARN).
fn assert_verify_only_functions_have_no_identity(stack: &Stack) {
    for function in ["McpFunction", "AuthorizerFunction"] {
        let env = stack.environment(function);
        for name in UPSTREAM_VARIABLES.iter().chain(&AUTH_ONLY_VARIABLES) {
            assert!(!env.contains_key(*name), "{function} gets {name}");
        }
    }
}

const SECRET_ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp-oidc-AbCdEf";

#[test]
fn fixture_stages_render() {
    for stage in fixture_stages() {
        let stack = Stack::fixture(&stage);
        assert_eq!(stack.parameter("StageName"), stage);
    }
}

#[test]
fn an_oidc_stage_gives_the_auth_function_its_provider_and_that_one_secret() {
    let stack = Stack::fixture("oidc");
    let env = stack.environment("AuthFunction");
    let get = |name: &str| env.get(name).map(String::as_str);
    assert_eq!(get("MCP_IDENTITY"), Some("oidc"));
    assert_eq!(
        get("MCP_OIDC_ISSUER"),
        Some("https://login.example.com/realms/mcp")
    );
    assert_eq!(get("MCP_OIDC_CLIENT_ID"), Some("mcpctl-oidc-fixture"));
    assert_eq!(get("MCP_OIDC_CLIENT_SECRET_ARN"), Some(SECRET_ARN));
    assert_eq!(get("MCP_OIDC_SCOPES"), Some("openid email profile groups"));
    assert_eq!(get("MCP_OIDC_CLAIM_EMAIL"), Some("email"));
    assert_eq!(get("MCP_OIDC_CLAIM_NAME"), Some("preferred_username"));
    assert_eq!(get("MCP_OIDC_CLAIM_GROUPS"), Some("roles"));
    assert_eq!(get("MCP_ALLOWED_EMAIL_DOMAINS"), Some(""));
    assert_eq!(get("MCP_ALLOWED_GROUPS"), Some("mcp-users,admins"));
    assert_eq!(get("MCP_REMEMBER_CONSENT_DAYS"), Some("0"));
    assert_eq!(
        get("MCP_PUBLIC_URL"),
        Some("https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/oidc")
    );
    assert_verify_only_functions_have_no_identity(&stack);

    // The auth role may read the signing key and exactly the configured client secret.
    assert_eq!(
        stack.secret_grants("AuthRole"),
        [
            (
                "SigningKey".to_owned(),
                "Ref(SigningKeySecretArn)".to_owned()
            ),
            ("OidcClientSecret".to_owned(), SECRET_ARN.to_owned()),
        ]
    );
    for role in ["McpRole", "AuthorizerRole"] {
        assert!(stack.secret_grants(role).is_empty(), "{role}");
    }

    // No Cognito in this mode.
    for id in ["UserPool", "UserPoolDomain", "UserPoolClient"] {
        assert!(stack.resource(id).is_none(), "{id} would be created");
    }
    for id in ["CognitoUserPoolId", "CognitoSignInUrl"] {
        assert!(stack.output(id).is_none(), "{id} would be an output");
    }
}

#[test]
fn a_cognito_stage_creates_a_public_pkce_client_calling_back_to_the_public_url() {
    let stack = Stack::fixture("cognito");
    let env = stack.environment("AuthFunction");
    let get = |name: &str| env.get(name).map(String::as_str);
    assert_eq!(get("MCP_IDENTITY"), Some("oidc"));
    assert_eq!(
        get("MCP_OIDC_ISSUER"),
        Some("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}")
    );
    assert_eq!(get("MCP_OIDC_CLIENT_ID"), Some("Ref(UserPoolClient)"));
    assert_eq!(
        get("MCP_OIDC_CLIENT_SECRET_ARN"),
        None,
        "a public client has no secret"
    );
    assert_eq!(get("MCP_OIDC_SCOPES"), Some("openid email profile"));
    assert_eq!(get("MCP_OIDC_CLAIM_GROUPS"), Some("cognito:groups"));
    assert_eq!(get("MCP_ALLOWED_EMAIL_DOMAINS"), Some("example.com"));
    assert_eq!(get("MCP_ALLOWED_GROUPS"), Some("mcp-users"));
    assert_eq!(get("MCP_REMEMBER_CONSENT_DAYS"), Some("30"));
    assert_eq!(get("MCP_PUBLIC_URL"), Some("https://mcp.example.com"));
    assert_verify_only_functions_have_no_identity(&stack);
    let grants = stack.secret_grants("AuthRole");
    assert_eq!(grants.len(), 1, "the signing key only: {grants:?}");
    assert_eq!(grants[0].0, "SigningKey");

    let client = stack.resource("UserPoolClient").unwrap();
    let client = &client["Properties"];
    assert_eq!(client["GenerateSecret"], Value::Bool(false));
    assert_eq!(client["AllowedOAuthFlowsUserPoolClient"], Value::Bool(true));
    assert_eq!(
        client["AllowedOAuthFlows"],
        serde_yaml::from_str::<Value>("[code]").unwrap()
    );
    assert_eq!(
        client["AllowedOAuthScopes"],
        serde_yaml::from_str::<Value>("[openid, email, profile]").unwrap()
    );
    assert_eq!(
        client["CallbackURLs"],
        serde_yaml::from_str::<Value>("[https://mcp.example.com/oauth/callback]").unwrap()
    );
    assert_eq!(
        client["SupportedIdentityProviders"],
        serde_yaml::from_str::<Value>("[COGNITO]").unwrap()
    );
    assert_eq!(client["PreventUserExistenceErrors"], "ENABLED");
    assert_eq!(client["EnableTokenRevocation"], Value::Bool(true));
    assert_eq!(client["UserPoolId"], "Ref(UserPool)");

    let pool = stack.resource("UserPool").unwrap();
    assert_eq!(
        pool["DeletionPolicy"], "Retain",
        "a production stage keeps its users"
    );
    assert_eq!(pool["UpdateReplacePolicy"], "Retain");
    let pool = &pool["Properties"];
    assert_eq!(pool["DeletionProtection"], "ACTIVE");
    assert_eq!(
        pool["UsernameAttributes"],
        serde_yaml::from_str::<Value>("[email]").unwrap()
    );
    assert_eq!(
        pool["AutoVerifiedAttributes"],
        serde_yaml::from_str::<Value>("[email]").unwrap()
    );
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"],
        Value::Bool(true)
    );
    let password = &pool["Policies"]["PasswordPolicy"];
    assert!(
        password["MinimumLength"].as_u64() >= Some(12),
        "{password:?}"
    );
    for class in [
        "RequireLowercase",
        "RequireUppercase",
        "RequireNumbers",
        "RequireSymbols",
    ] {
        assert_eq!(password[class], Value::Bool(true), "{class}");
    }
    let domain = stack.resource("UserPoolDomain").unwrap();
    assert_eq!(domain["Properties"]["Domain"], "mcpctl-fixture");

    assert_eq!(stack.output("CognitoUserPoolId").unwrap(), "Ref(UserPool)");
    assert_eq!(
        stack.output("CognitoSignInUrl").unwrap(),
        "https://mcpctl-fixture.auth.${AWS::Region}.amazoncognito.com"
    );
}

#[test]
fn the_cognito_callback_follows_the_default_url_without_a_custom_domain() {
    let dir = scratch_dir("render-cognito-default-url");
    std::fs::write(
        dir.join("pool.yaml"),
        "identity:\n  mode: cognito\n  cognito:\n    domain_prefix: my-mcp-pool\n",
    )
    .unwrap();
    let stack = Stack::render("pool", dir.to_str().unwrap());
    let client = stack.resource("UserPoolClient").unwrap();
    let public_url = stack.environment("AuthFunction")["MCP_PUBLIC_URL"].clone();
    assert_eq!(
        public_url,
        "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/pool"
    );
    assert_eq!(
        client["Properties"]["CallbackURLs"][0].as_str(),
        Some(format!("{public_url}/oauth/callback").as_str())
    );
    let pool = stack.resource("UserPool").unwrap();
    assert_eq!(pool["DeletionPolicy"], "Delete");
    assert_eq!(pool["Properties"]["DeletionProtection"], "INACTIVE");
}

#[test]
fn no_template_holds_a_client_secret() {
    for (stage, config_dir) in fixture_stages()
        .into_iter()
        .map(|stage| (stage, FIXTURE_CONFIG_DIR))
        .chain(shipped_stages().into_iter().map(|stage| (stage, "config")))
    {
        let stack = Stack::render(&stage, config_dir);
        // The only secret-shaped values are ARNs: no ClientSecret property, no secret variable.
        assert!(!stack.text.contains(" ClientSecret:"), "{stage}");
        assert!(
            !stack
                .text
                .replace("client_secret_arn", "")
                .contains("client_secret"),
            "{stage}"
        );
        assert!(
            !stack.text.contains("GenerateSecret: true"),
            "{stage}: the Cognito client must stay public"
        );
        for (name, _) in stack.environment("AuthFunction") {
            assert!(
                !name.contains("SECRET") || name.ends_with("_SECRET_ARN"),
                "{stage}: {name}"
            );
        }
    }
}

#[test]
fn shipped_stages_keep_their_identity_modes() {
    let dev = Stack::render("dev", "config");
    let env = dev.environment("AuthFunction");
    assert_eq!(env["MCP_IDENTITY"], "dev");
    for name in UPSTREAM_VARIABLES {
        assert!(!env.contains_key(name), "dev gets {name}");
    }
    assert!(dev.resource("UserPool").is_none());
    let prod = Stack::render("prod", "config");
    let env = prod.environment("AuthFunction");
    assert_eq!(env["MCP_IDENTITY"], "disabled");
    for name in UPSTREAM_VARIABLES {
        assert!(!env.contains_key(name), "prod gets {name}");
    }
    assert_eq!(prod.secret_grants("AuthRole").len(), 1);
    assert!(prod.resource("UserPool").is_none());
}

const INITIAL_ACCESS_TOKEN_ARN: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mcp-initial-access-token-AbCdEf";

/// Renders `text` as the stage `name` of a scratch config directory.
fn render_stage(name: &str, text: &str) -> Stack {
    let dir = scratch_dir(&format!("render-{name}"));
    std::fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
    Stack::render(name, dir.to_str().unwrap())
}

#[test]
fn an_initial_access_token_secret_reaches_the_auth_function_only() {
    let stack = render_stage(
        "iat",
        &format!(
            "region: eu-west-1\nproduction: true\noauth:\n  registration_open: false\n  initial_access_token_secret_arn: {INITIAL_ACCESS_TOKEN_ARN}\n"
        ),
    );
    let env = stack.environment("AuthFunction");
    assert_eq!(
        env.get("MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN")
            .map(String::as_str),
        Some(INITIAL_ACCESS_TOKEN_ARN)
    );
    assert_eq!(env["MCP_REGISTRATION_OPEN"], "false");
    // The auth role may read the signing key and exactly that secret, nothing else.
    assert_eq!(
        stack.secret_grants("AuthRole"),
        [
            (
                "SigningKey".to_owned(),
                "Ref(SigningKeySecretArn)".to_owned()
            ),
            (
                "InitialAccessToken".to_owned(),
                INITIAL_ACCESS_TOKEN_ARN.to_owned()
            ),
        ]
    );
    // The MCP function (and the authorizer) get neither the variable nor any grant.
    for (function, role) in [
        ("McpFunction", "McpRole"),
        ("AuthorizerFunction", "AuthorizerRole"),
    ] {
        let env = stack.environment(function);
        assert!(
            !env.contains_key("MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN"),
            "{function}: {env:?}"
        );
        assert!(stack.secret_grants(role).is_empty(), "{role}");
        let role = serde_yaml::to_string(&stack.resource(role).unwrap()).unwrap();
        assert!(!role.contains(INITIAL_ACCESS_TOKEN_ARN), "{role}");
    }
    assert_verify_only_functions_have_no_identity(&stack);

    // Without the secret: no variable, no statement.
    for (stage, config_dir) in [("prod", "config"), ("dev", "config")] {
        let stack = Stack::render(stage, config_dir);
        let env = stack.environment("AuthFunction");
        assert!(
            !env.contains_key("MCP_INITIAL_ACCESS_TOKEN_SECRET_ARN"),
            "{stage}"
        );
        assert!(
            stack
                .secret_grants("AuthRole")
                .iter()
                .all(|(sid, _)| sid != "InitialAccessToken"),
            "{stage}"
        );
    }
}

#[test]
fn redirect_schemes_refresh_lifetime_and_groups_scope_reach_the_auth_function() {
    let stack = Stack::render("dev", "config");
    let env = stack.environment("AuthFunction");
    assert_eq!(
        env["MCP_REDIRECT_SCHEMES"],
        "cursor,vscode,vscode-insiders,windsurf"
    );
    assert_eq!(env["MCP_REFRESH_MAX_LIFETIME_SECONDS"], "7776000");
    assert!(!env.contains_key("MCP_GROUPS_SCOPE"));

    let stack = render_stage(
        "groups",
        "oauth:\n  redirect_schemes: [cursor, com.example.app]\n  refresh_max_lifetime_days: 30\nidentity:\n  mode: oidc\n  oidc:\n    issuer: https://login.example.com\n    client_id: abc\n  groups_scope: groups\n",
    );
    let env = stack.environment("AuthFunction");
    assert_eq!(env["MCP_REDIRECT_SCHEMES"], "cursor,com.example.app");
    assert_eq!(env["MCP_REFRESH_MAX_LIFETIME_SECONDS"], "2592000");
    assert_eq!(env["MCP_GROUPS_SCOPE"], "groups");
    assert_verify_only_functions_have_no_identity(&stack);

    // An empty list is passed as empty: the handler then allows no bare private-use scheme.
    let stack = render_stage("noschemes", "oauth:\n  redirect_schemes: []\n");
    assert_eq!(
        stack.environment("AuthFunction")["MCP_REDIRECT_SCHEMES"],
        ""
    );
}

#[test]
fn a_production_stage_refuses_open_registration_without_sign_in() {
    let out = render_config(
        "render-production-open-registration",
        "production: true\noauth:\n  registration_open: true\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message().contains(
            "bad.yaml: oauth.registration_open: open registration with identity.mode `none` in a production stage lets anyone register a client; pick identity.mode `oidc` or `cognito` so a person signs in, or set oauth.registration_open: false for a machine-only server (machine clients: `mcpctl register-client --stage bad --name <name> --grant client_credentials`)"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_dangerous_redirect_scheme_is_refused() {
    let out = render_config(
        "render-dangerous-scheme",
        "oauth:\n  redirect_schemes: [cursor, javascript]\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message()
            .contains("bad.yaml: oauth.redirect_schemes: `javascript` is refused"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_production_stage_refuses_the_dev_identity() {
    let out = render_config(
        "render-production-dev-identity",
        "production: true\nidentity:\n  mode: dev\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.message().contains(
            "bad.yaml: identity.mode: `dev` is refused in a production stage: the dev identity approves every authorization request as one fixed local user"
        ),
        "{}",
        out.stderr
    );
}
