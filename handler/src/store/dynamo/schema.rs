//! The three tables on DynamoDB: their key schema ([`crate::store::schema`]) and
//! `ensure_tables`, which creates them as the CloudFormation template does.

use aws_sdk_dynamodb::{
    Client,
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, SseSpecification, TableStatus,
        TimeToLiveSpecification,
    },
};

use super::{TableNames, classify};
use crate::store::StoreError;
pub use crate::store::schema::{BY_CLIENT_INDEX, CLIENTS, CODES, REFRESH_TOKENS, TableSpec};

/// The three tables with their names.
pub fn tables(names: &TableNames) -> [(TableSpec, &str); 3] {
    [
        (CLIENTS, names.clients.as_str()),
        (CODES, names.codes.as_str()),
        (REFRESH_TOKENS, names.refresh_tokens.as_str()),
    ]
}

fn build_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("cannot build the table definition: {error}"))
}

/// Creates the tables that do not exist yet (on-demand billing, encryption, TTL) and waits until
/// they are active. Returns the names it created. For `mcpctl dev` and tests; deployed stacks get
/// their tables from CloudFormation.
pub async fn ensure_tables(client: &Client, names: &TableNames) -> Result<Vec<String>, StoreError> {
    let mut created = Vec::new();
    for (spec, name) in tables(names) {
        match client.describe_table().table_name(name).send().await {
            Ok(_) => continue,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(error) => return Err(classify("DescribeTable", error)),
        }
        let mut attributes = vec![spec.partition_key];
        attributes.extend(spec.indexes.iter().map(|(_, key)| *key));
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .sse_specification(SseSpecification::builder().enabled(true).build())
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(spec.partition_key)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build_error)?,
            );
        for attribute in attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_error)?,
            );
        }
        for (index, key) in spec.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*index)
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name(*key)
                            .key_type(KeyType::Hash)
                            .build()
                            .map_err(build_error)?,
                    )
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::KeysOnly)
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            );
        }
        match request.send().await {
            Ok(_) => {}
            // Created concurrently by another process: fine.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                continue;
            }
            Err(error) => return Err(classify("CreateTable", error)),
        }
        wait_active(client, name).await?;
        if let Some(attribute) = spec.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(attribute)
                        .build()
                        .map_err(build_error)?,
                )
                .send()
                .await
                .map_err(|e| classify("UpdateTimeToLive", e))?;
        }
        created.push(name.to_owned());
    }
    Ok(created)
}

async fn wait_active(client: &Client, name: &str) -> Result<(), StoreError> {
    for _ in 0..120 {
        let description = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| classify("DescribeTable", e))?;
        if description.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(StoreError::Unavailable {
        retry_after: 5,
        reason: format!("table {name} did not become active within a minute"),
    })
}
