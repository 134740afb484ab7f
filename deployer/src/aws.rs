//! The one place AWS configuration is loaded: `--profile`, `--region`, and `AWS_ENDPOINT_URL`
//! (honoured by every SDK client, which is how tests point the CLI at moto).

use aws_config::{BehaviorVersion, SdkConfig};

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
