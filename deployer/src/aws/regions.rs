//! The AWS regions mcpctl knows, to tell a typo in `--region` from a network failure. A region
//! missing here is still used as given: this list only words an error, it never refuses one.

/// Every region as of late 2026 (commercial, GovCloud, China, European Sovereign Cloud).
const KNOWN: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
];

/// Regions an account must enable before using them (STS there refuses otherwise-valid keys).
const OPT_IN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// Whether `region` is one mcpctl knows.
pub(crate) fn is_known(region: &str) -> bool {
    KNOWN.contains(&region)
}

/// Whether `region` is opt-in.
pub(crate) fn is_opt_in(region: &str) -> bool {
    OPT_IN.contains(&region)
}

/// The known region nearest to a mistyped one, when one is close enough to be the intent.
pub(crate) fn closest(region: &str) -> Option<&'static str> {
    let wanted = region.to_ascii_lowercase();
    KNOWN
        .iter()
        .map(|known| (strsim::damerau_levenshtein(&wanted, known), *known))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_typo_is_matched_to_the_region_meant() {
        assert_eq!(super::closest("us-esat-1"), Some("us-east-1"));
        assert_eq!(super::closest("EU-WEST-1"), Some("eu-west-1"));
        assert_eq!(super::closest("mars-north-9"), None);
        assert!(super::is_known("eu-central-1"));
        assert!(!super::is_known("us-esat-1"));
    }
}
