//! The price table `mcpctl cost` multiplies by: AWS public list prices in us-east-1, in USD.
//!
//! List prices only: the free tier (1M Lambda requests and 400 000 GB-s, 10 alarms, 3 dashboards,
//! 10 custom metrics, 5 GB of log ingestion, 100 000 X-Ray traces, ...) is not subtracted, volume
//! tiers are ignored (every figure is the first tier), and other regions cost more or less.
//! Taken from the AWS pricing pages as they stood in 2025 (DynamoDB on demand after the price cut
//! of 2024-11-01); written down on 2026-12-07 without re-checking online. Check
//! https://aws.amazon.com/pricing before relying on a figure to the cent.

use serde::Serialize;

/// Where the prices come from, printed with every estimate.
pub(crate) const SOURCE: &str = "AWS us-east-1 public list prices (2025; DynamoDB on demand after the 2024-11-01 cut); free tier not subtracted";

/// One price per billed unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Prices {
    /// Lambda compute, arm64, per GB-second.
    pub(crate) lambda_gb_second_arm64: f64,
    /// Lambda compute, x86_64, per GB-second.
    pub(crate) lambda_gb_second_x86_64: f64,
    /// Lambda requests, per million invocations.
    pub(crate) lambda_per_million_requests: f64,
    /// API Gateway REST API, per million requests (first 333 million).
    pub(crate) rest_api_per_million_requests: f64,
    /// DynamoDB on demand, per million read request units.
    pub(crate) dynamodb_per_million_rru: f64,
    /// DynamoDB on demand, per million write request units.
    pub(crate) dynamodb_per_million_wru: f64,
    /// DynamoDB standard table storage, per GB-month.
    pub(crate) dynamodb_storage_gb_month: f64,
    /// DynamoDB continuous backups (point-in-time recovery), per GB-month.
    pub(crate) dynamodb_pitr_gb_month: f64,
    /// CloudWatch Logs ingestion (standard class), per GB.
    pub(crate) logs_ingestion_per_gb: f64,
    /// CloudWatch Logs storage (archival), per GB-month.
    pub(crate) logs_storage_gb_month: f64,
    /// CloudWatch standard-resolution alarm, per alarm metric per month.
    pub(crate) alarm_metric_month: f64,
    /// CloudWatch dashboard, per month.
    pub(crate) dashboard_month: f64,
    /// CloudWatch custom metric (the handler's EMF metrics), per metric per month.
    pub(crate) custom_metric_month: f64,
    /// Secrets Manager, per secret per month.
    pub(crate) secret_month: f64,
    /// Secrets Manager, per 10 000 API calls.
    pub(crate) secrets_per_10k_calls: f64,
    /// X-Ray, per million traces recorded.
    pub(crate) xray_per_million_traces: f64,
    /// KMS customer managed key, per key per month.
    pub(crate) kms_key_month: f64,
    /// KMS asymmetric requests (ECC `Sign`), per 10 000.
    pub(crate) kms_asymmetric_per_10k: f64,
}

/// us-east-1 list prices.
pub(crate) const US_EAST_1: Prices = Prices {
    lambda_gb_second_arm64: 0.000_013_333_4,
    lambda_gb_second_x86_64: 0.000_016_666_7,
    lambda_per_million_requests: 0.20,
    rest_api_per_million_requests: 3.50,
    dynamodb_per_million_rru: 0.125,
    dynamodb_per_million_wru: 0.625,
    dynamodb_storage_gb_month: 0.25,
    dynamodb_pitr_gb_month: 0.20,
    logs_ingestion_per_gb: 0.50,
    logs_storage_gb_month: 0.03,
    alarm_metric_month: 0.10,
    dashboard_month: 3.00,
    custom_metric_month: 0.30,
    secret_month: 0.40,
    secrets_per_10k_calls: 0.05,
    xray_per_million_traces: 5.00,
    kms_key_month: 1.00,
    kms_asymmetric_per_10k: 0.15,
};
