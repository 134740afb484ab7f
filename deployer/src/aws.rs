//! The one place AWS configuration is loaded: `--profile`, `--region`, and `AWS_ENDPOINT_URL`
//! (honoured by every SDK client, which is how tests point the CLI at moto); and the preflight
//! that proves it works before any command relies on it.

pub(crate) mod preflight;
mod regions;

use aws_config::{BehaviorVersion, SdkConfig};

pub(crate) use preflight::Identity;

/// Loads the SDK configuration for a command.
pub(crate) async fn config(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}

/// Loads the SDK configuration and checks it (credentials, region, STS), so a command fails here
/// with the reason and the fix rather than halfway through its work.
/// Checked once per profile and region in a run: a command that reads a stack and then a table
/// asks STS once.
pub(crate) async fn connect(
    profile: Option<&str>,
    region: Option<&str>,
) -> miette::Result<(SdkConfig, Identity)> {
    type Checked =
        std::sync::Mutex<std::collections::HashMap<(Option<String>, Option<String>), Identity>>;
    static CHECKED: std::sync::OnceLock<Checked> = std::sync::OnceLock::new();
    let checked = CHECKED.get_or_init(Checked::default);
    let key = (profile.map(str::to_owned), region.map(str::to_owned));
    let sdk = config(profile, region).await;
    if let Some(identity) = checked.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok((sdk, identity));
    }
    let identity = preflight::check(&sdk, profile).await?;
    if let Ok(mut checked) = checked.lock() {
        checked.insert(key, identity.clone());
    }
    Ok((sdk, identity))
}
