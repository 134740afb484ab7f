//! The key schema of the three tables: the one definition the DynamoDB store, `mcpctl dev
//! --store dynamodb`, the tests and the CloudFormation template all use, so they cannot drift
//! apart. Plain data, so the template renders without the `aws` feature.

/// One table's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// CloudFormation logical id of the table.
    pub logical_id: &'static str,
    /// Environment variable carrying the table name to the function.
    pub env_var: &'static str,
    /// Partition key (a string attribute).
    pub partition_key: &'static str,
    /// TTL attribute (epoch seconds), if items expire.
    pub ttl_attribute: Option<&'static str>,
    /// Global secondary indexes: (name, partition key), keys-only projection.
    pub indexes: &'static [(&'static str, &'static str)],
}

/// The sparse index of refresh-token families by client.
pub const BY_CLIENT_INDEX: &str = "by-client";

/// Registered clients.
pub const CLIENTS: TableSpec = TableSpec {
    logical_id: "ClientsTable",
    env_var: "MCP_CLIENTS_TABLE",
    partition_key: "client_id",
    ttl_attribute: None,
    indexes: &[],
};

/// Authorization codes.
pub const CODES: TableSpec = TableSpec {
    logical_id: "CodesTable",
    env_var: "MCP_CODES_TABLE",
    partition_key: "code_hash",
    ttl_attribute: Some("expires_at"),
    indexes: &[],
};

/// Refresh tokens and their families.
pub const REFRESH_TOKENS: TableSpec = TableSpec {
    logical_id: "RefreshTokensTable",
    env_var: "MCP_REFRESH_TOKENS_TABLE",
    partition_key: "pk",
    ttl_attribute: Some("expires_at"),
    indexes: &[(BY_CLIENT_INDEX, "family_client_id")],
};
