//! The DynamoDB store: the three tables on aws-sdk-dynamodb, every operation a single
//! conditional request (or transaction), so single use and rotation hold under concurrency.
//!
//! Layout (written down in `docs/storage.md`, created by [`schema`], mirrored by the
//! CloudFormation template):
//! - clients: key `client_id`; the [`ClientRecord`] as attributes.
//! - codes: key `code_hash`; the [`AuthCodeRecord`]; TTL on `expires_at`. The same table keeps
//!   the `oidc` sign-in state under prefixed keys (a code's key is a bare hex hash, so they never
//!   collide): `signin#<hash>` a [`PendingSignIn`], `consent#<hash>` a [`ConsentGrant`].
//! - refresh tokens: key `pk`. Token items `pk = token#<hash>` hold the [`RefreshTokenRecord`];
//!   family items `pk = family#<id>` hold `revoked` and `family_client_id` (the key of the
//!   sparse `by-client` index). TTL on `expires_at` for both.
//!
//! Revocation is one write to the family item, and every read and rotation checks the family
//! in the same strongly consistent operation, so no freshly rotated token escapes a revocation
//! (a query on an eventually consistent index could miss it).

pub mod schema;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::{
        AttributeValue, Get, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
        TransactGetItem, TransactWriteItem, Update,
    },
};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::{
    AuthCodeRecord, AuthCodeStore, ClientRecord, ClientStore, CodeTake, ConsentGrant,
    PendingSignIn, PendingTake, RefreshTokenKey, RefreshTokenRecord, RefreshTokenStore, Rotation,
    SignInStore, StoreError,
};

type Item = HashMap<String, AttributeValue>;

/// The physical names of the three tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// Clients table.
    pub clients: String,
    /// Authorization codes table.
    pub codes: String,
    /// Refresh tokens table.
    pub refresh_tokens: String,
}

impl TableNames {
    /// `<prefix>-clients`, `<prefix>-codes`, `<prefix>-refresh-tokens`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            clients: format!("{prefix}-clients"),
            codes: format!("{prefix}-codes"),
            refresh_tokens: format!("{prefix}-refresh-tokens"),
        }
    }

    /// From the environment the CloudFormation template gives the function.
    pub fn from_env() -> Result<Self, StoreError> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                StoreError::Internal(format!(
                    "environment variable {name} is not set; the stack sets it on the function"
                ))
            })
        };
        Ok(Self {
            clients: var(schema::CLIENTS.env_var)?,
            codes: var(schema::CODES.env_var)?,
            refresh_tokens: var(schema::REFRESH_TOKENS.env_var)?,
        })
    }
}

/// Counts the DynamoDB requests the store sends, by operation (for the cost figures and tests).
#[derive(Debug, Default)]
pub struct CallCounter {
    total: AtomicU64,
    by_operation: Mutex<HashMap<&'static str, u64>>,
}

impl CallCounter {
    fn record(&self, operation: &'static str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.by_operation.lock() {
            *map.entry(operation).or_default() += 1;
        }
    }

    /// Requests sent so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Requests sent so far, by operation name.
    pub fn by_operation(&self) -> HashMap<&'static str, u64> {
        self.by_operation
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }
}

/// The DynamoDB implementation of every store trait.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    tables: Arc<TableNames>,
    calls: Arc<CallCounter>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

/// The AWS configuration every client of the handler starts from: the SDK's standard retry
/// mode with at most 3 attempts, and deadlines short enough to answer 503 well inside API
/// Gateway's 29 s (and to fail a cold start instead of hanging it).
pub fn bounded_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(6))
                .connect_timeout(Duration::from_secs(2))
                .build(),
        )
}

/// Builds a DynamoDB client the way the handler uses it ([`bounded_config_loader`]).
/// `endpoint` overrides the endpoint (moto, DynamoDB Local); `AWS_ENDPOINT_URL` works too.
pub async fn client(endpoint: Option<&str>) -> Client {
    let mut loader = bounded_config_loader();
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        // A local emulator (moto, DynamoDB Local) accepts any credentials; supply some when the
        // environment has none, so `mcpctl dev --store dynamodb` works without an AWS account.
        let local = url::Url::parse(endpoint).is_ok_and(|u| {
            u.host_str().is_some_and(|h| {
                h == "localhost"
                    || h.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            })
        });
        if local {
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "mcpctl-local-endpoint",
                ));
            }
            loader = loader.region(
                aws_config::meta::region::RegionProviderChain::default_provider()
                    .or_else("us-east-1"),
            );
        }
    }
    Client::new(&loader.load().await)
}

/// The outcome class of an SDK error.
fn classify<E, R>(operation: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let unavailable = |reason: String| StoreError::Unavailable {
        retry_after: 1,
        reason,
    };
    match &error {
        SdkError::TimeoutError(_) => {
            unavailable(format!("{operation}: DynamoDB did not answer in time"))
        }
        SdkError::DispatchFailure(failure) => {
            unavailable(format!("{operation}: cannot reach DynamoDB ({failure:?})"))
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown");
            match code {
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "LimitExceededException"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionInProgressException" => unavailable(format!("{operation}: {code}")),
                _ => StoreError::Internal(format!(
                    "{operation}: {code}: {}",
                    service.err().message().unwrap_or("")
                )),
            }
        }
        SdkError::ResponseError(_) => {
            unavailable(format!("{operation}: unreadable response from DynamoDB"))
        }
        _ => StoreError::Internal(format!("{operation}: {error}")),
    }
}

/// The item a failed conditional `UpdateItem` saw (`ReturnValuesOnConditionCheckFailure`).
fn update_condition_failure_item<R>(
    error: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> Option<Item> {
    match error.as_service_error()? {
        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
            failure,
        ) => failure.item().cloned().filter(|item| !item.is_empty()),
        _ => None,
    }
}

/// The item a failed conditional `DeleteItem` saw (`ReturnValuesOnConditionCheckFailure`).
fn condition_failure_item<R>(
    error: &SdkError<aws_sdk_dynamodb::operation::delete_item::DeleteItemError, R>,
) -> Option<Item> {
    match error.as_service_error()? {
        aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(
            failure,
        ) => failure.item().cloned().filter(|item| !item.is_empty()),
        _ => None,
    }
}

fn is_conditional_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    matches!(error, SdkError::ServiceError(s) if s.err().code() == Some("ConditionalCheckFailedException"))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Item, StoreError> {
    to_item(value).map_err(|e| StoreError::Internal(format!("cannot encode item: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Internal(format!("cannot decode item: {e}")))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn token_pk(hash: &str) -> String {
    format!("token#{hash}")
}

fn family_pk(family_id: &str) -> String {
    format!("family#{family_id}")
}

fn build_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("cannot build the DynamoDB request: {error}"))
}

/// A refresh-token row as stored: the record plus its key.
fn token_item(record: &RefreshTokenRecord) -> Result<Item, StoreError> {
    let mut item = encode(record)?;
    item.insert("pk".into(), s(token_pk(&record.token_hash)));
    Ok(item)
}

fn decode_token(mut item: Item) -> Result<RefreshTokenRecord, StoreError> {
    item.remove("pk");
    decode(item)
}

impl DynamoStore {
    /// A store on `client` with the given tables.
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables: Arc::new(tables),
            calls: Arc::new(CallCounter::default()),
        }
    }

    /// The request counter.
    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }

    /// The table names.
    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// The SDK client (for table administration).
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn get_token_item(&self, hash: &str) -> Result<Option<RefreshTokenRecord>, StoreError> {
        self.calls.record("GetItem");
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.refresh_tokens)
            .key("pk", s(token_pk(hash)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        output.item.map(decode_token).transpose()
    }

    async fn write_rotation(
        &self,
        old: &RefreshTokenKey,
        successor: &RefreshTokenRecord,
        now: u64,
    ) -> Result<Result<(), Vec<aws_sdk_dynamodb::types::CancellationReason>>, StoreError> {
        let mark_old = Update::builder()
            .table_name(&self.tables.refresh_tokens)
            .key("pk", s(token_pk(&old.token_hash)))
            .update_expression("SET rotated_at = :now, successor_hash = :successor")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(rotated_at) AND revoked = :false AND expires_at > :now AND family_id = :family",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":successor", s(&successor.token_hash))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":family", s(&old.family_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        let insert_successor = Put::builder()
            .table_name(&self.tables.refresh_tokens)
            .set_item(Some(token_item(successor)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let check_family = Update::builder()
            .table_name(&self.tables.refresh_tokens)
            .key("pk", s(family_pk(&old.family_id)))
            .update_expression("SET expires_at = :expires")
            .condition_expression("attribute_exists(pk) AND revoked = :false")
            .expression_attribute_values(":expires", n(successor.expires_at))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(build_error)?;
        self.calls.record("TransactWriteItems");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_old).build())
            .transact_items(TransactWriteItem::builder().put(insert_successor).build())
            .transact_items(TransactWriteItem::builder().update(check_family).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(error) => match error.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                    cancelled,
                )) => Ok(Err(cancelled.cancellation_reasons().to_vec())),
                _ => Err(classify("TransactWriteItems", error)),
            },
        }
    }
}

impl DynamoStore {
    /// Puts an item that must not exist yet (keyed by `key`): [`StoreError::Conflict`] if it does.
    async fn put_new(&self, table: &str, key: &str, item: Item) -> Result<(), StoreError> {
        self.calls.record("PutItem");
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists({key})"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                if is_conditional_failure(&e) {
                    StoreError::Conflict
                } else {
                    classify("PutItem", e)
                }
            })
    }
}

#[async_trait::async_trait]
impl ClientStore for DynamoStore {
    async fn create(&self, client: ClientRecord) -> Result<(), StoreError> {
        self.put_new(&self.tables.clients, "client_id", encode(&client)?)
            .await
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.calls.record("GetItem");
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.clients)
            .key("client_id", s(client_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        output.item.map(decode).transpose()
    }

    async fn delete(&self, client_id: &str) -> Result<bool, StoreError> {
        self.calls.record("DeleteItem");
        let output = self
            .client
            .delete_item()
            .table_name(&self.tables.clients)
            .key("client_id", s(client_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("DeleteItem", e))?;
        Ok(output.attributes.is_some_and(|a| !a.is_empty()))
    }
}

#[async_trait::async_trait]
impl AuthCodeStore for DynamoStore {
    async fn put(&self, code: AuthCodeRecord) -> Result<(), StoreError> {
        self.put_new(&self.tables.codes, "code_hash", encode(&code)?)
            .await
    }

    async fn take(
        &self,
        code_hash: &str,
        now: u64,
        family_id: Option<&str>,
    ) -> Result<CodeTake, StoreError> {
        // Marked used, not deleted: the row stays until its TTL so a replay is recognised and
        // revokes the family the first exchange started (RFC 6749 §4.1.2).
        self.calls.record("UpdateItem");
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.codes)
            .key("code_hash", s(code_hash))
            .condition_expression(
                "attribute_exists(code_hash) AND expires_at > :now AND attribute_not_exists(used_at)",
            )
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match family_id {
            Some(family) => update
                .update_expression("SET used_at = :now, family_id = :family")
                .expression_attribute_values(":family", s(family)),
            None => update.update_expression("SET used_at = :now"),
        };
        match update.send().await {
            Ok(output) => Ok(output
                .attributes
                .filter(|a| !a.is_empty())
                .map(decode)
                .transpose()?
                .map_or(CodeTake::Absent, |c| CodeTake::Taken(Box::new(c)))),
            Err(e) if is_conditional_failure(&e) => {
                let old: Option<AuthCodeRecord> =
                    update_condition_failure_item(&e).map(decode).transpose()?;
                Ok(match old {
                    Some(code) if code.used_at.is_some() => CodeTake::Replayed {
                        family_id: code.family_id,
                    },
                    _ => CodeTake::Absent,
                })
            }
            Err(e) => Err(classify("UpdateItem", e)),
        }
    }
}

fn signin_key(handle_hash: &str) -> String {
    format!("signin#{handle_hash}")
}

fn consent_key(key_hash: &str) -> String {
    format!("consent#{key_hash}")
}

#[async_trait::async_trait]
impl SignInStore for DynamoStore {
    async fn put_pending(&self, pending: PendingSignIn) -> Result<(), StoreError> {
        let mut item = encode(&pending)?;
        item.insert("code_hash".into(), s(signin_key(&pending.handle_hash)));
        self.put_new(&self.tables.codes, "code_hash", item).await
    }

    async fn take_pending(
        &self,
        handle_hash: &str,
        browser_hash: &str,
        now: u64,
    ) -> Result<PendingTake, StoreError> {
        self.calls.record("DeleteItem");
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.codes)
            .key("code_hash", s(signin_key(handle_hash)))
            .condition_expression(
                "attribute_exists(code_hash) AND expires_at > :now AND browser_hash = :browser",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":browser", s(browser_hash))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .attributes
                .filter(|a| !a.is_empty())
                .map(decode)
                .transpose()?
                .map_or(PendingTake::Absent, |p| PendingTake::Taken(Box::new(p)))),
            Err(e) if is_conditional_failure(&e) => {
                // The item that failed the condition tells "another browser" from "gone".
                let old: Option<PendingSignIn> =
                    condition_failure_item(&e).map(decode).transpose()?;
                Ok(match old {
                    Some(p) if p.expires_at > now && p.browser_hash != browser_hash => {
                        PendingTake::OtherBrowser
                    }
                    _ => PendingTake::Absent,
                })
            }
            Err(e) => Err(classify("DeleteItem", e)),
        }
    }

    async fn remember_consent(&self, grant: ConsentGrant) -> Result<(), StoreError> {
        let mut item = encode(&grant)?;
        item.insert("code_hash".into(), s(consent_key(&grant.key_hash)));
        self.calls.record("PutItem");
        self.client
            .put_item()
            .table_name(&self.tables.codes)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutItem", e))
    }

    async fn consent(&self, key_hash: &str, now: u64) -> Result<Option<ConsentGrant>, StoreError> {
        self.calls.record("GetItem");
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.codes)
            .key("code_hash", s(consent_key(key_hash)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        let grant: Option<ConsentGrant> = output.item.map(decode).transpose()?;
        Ok(grant.filter(|g| g.expires_at > now))
    }

    async fn forget_consents(&self, client_id: &str) -> Result<(), StoreError> {
        // A scan, because consents are keyed by user and client together and the codes table
        // has no index by client: client deletion is rare and the table holds only short-lived
        // rows besides consents. The consent check also ignores consents older than the
        // client, so a consent this misses can never be used.
        let mut start: Option<Item> = None;
        loop {
            self.calls.record("Scan");
            let page = self
                .client
                .scan()
                .table_name(&self.tables.codes)
                .filter_expression("begins_with(code_hash, :consent) AND client_id = :client")
                .expression_attribute_values(":consent", s("consent#"))
                .expression_attribute_values(":client", s(client_id))
                .projection_expression("code_hash")
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| classify("Scan", e))?;
            for item in page.items() {
                if let Some(key) = item.get("code_hash") {
                    self.calls.record("DeleteItem");
                    self.client
                        .delete_item()
                        .table_name(&self.tables.codes)
                        .key("code_hash", key.clone())
                        .send()
                        .await
                        .map_err(|e| classify("DeleteItem", e))?;
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(()),
            }
        }
    }
}

#[async_trait::async_trait]
impl RefreshTokenStore for DynamoStore {
    async fn put(&self, token: RefreshTokenRecord) -> Result<(), StoreError> {
        let family: Item = HashMap::from([
            ("pk".to_owned(), s(family_pk(&token.family_id))),
            ("family_id".to_owned(), s(&token.family_id)),
            ("family_client_id".to_owned(), s(&token.client_id)),
            ("revoked".to_owned(), AttributeValue::Bool(false)),
            ("expires_at".to_owned(), n(token.expires_at)),
        ]);
        let put_token = Put::builder()
            .table_name(&self.tables.refresh_tokens)
            .set_item(Some(token_item(&token)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let put_family = Put::builder()
            .table_name(&self.tables.refresh_tokens)
            .set_item(Some(family))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        self.calls.record("TransactWriteItems");
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_token).build())
            .transact_items(TransactWriteItem::builder().put(put_family).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(_)) => {
                    StoreError::Conflict
                }
                _ => classify("TransactWriteItems", e),
            })
    }

    async fn get(
        &self,
        key: &RefreshTokenKey,
        now: u64,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let get = |pk: String| {
            Get::builder()
                .table_name(&self.tables.refresh_tokens)
                .key("pk", s(pk))
                .build()
                .map_err(build_error)
        };
        self.calls.record("TransactGetItems");
        let output = self
            .client
            .transact_get_items()
            .transact_items(
                TransactGetItem::builder()
                    .get(get(token_pk(&key.token_hash))?)
                    .build(),
            )
            .transact_items(
                TransactGetItem::builder()
                    .get(get(family_pk(&key.family_id))?)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("TransactGetItems", e))?;
        let mut responses = output
            .responses
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.item.filter(|i| !i.is_empty()));
        let (Some(Some(token)), Some(Some(family))) = (responses.next(), responses.next()) else {
            return Ok(None);
        };
        let family_revoked = matches!(family.get("revoked"), Some(AttributeValue::Bool(true)));
        let token = decode_token(token)?;
        let live = !family_revoked
            && !token.revoked
            && token.family_id == key.family_id
            && token.expires_at > now;
        Ok(live.then_some(token))
    }

    async fn rotate(
        &self,
        old: &RefreshTokenKey,
        successor: RefreshTokenRecord,
        now: u64,
        grace: u64,
    ) -> Result<Rotation, StoreError> {
        if successor.family_id != old.family_id {
            return Ok(Rotation::Invalid);
        }
        // Concurrent transactions on one item are cancelled with TransactionConflict; they are
        // safe to retry (nothing was written). The SDK does not retry cancellations itself.
        let mut attempt = 0;
        let reasons = loop {
            match self.write_rotation(old, &successor, now).await? {
                Ok(()) => return Ok(Rotation::Rotated),
                Err(reasons)
                    if reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                        && attempt < 4 =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(15 * attempt)).await;
                }
                Err(reasons)
                    if reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict")) =>
                {
                    return Err(StoreError::Unavailable {
                        retry_after: 1,
                        reason: "TransactWriteItems: TransactionConflict".into(),
                    });
                }
                Err(reasons) => break reasons,
            }
        };
        let failed = |index: usize| {
            reasons.get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
        };
        if failed(2) || !failed(0) {
            // The family is revoked or gone, or the old token's row failed for no reason we can
            // answer better: the token is not usable.
            return Ok(Rotation::Invalid);
        }
        let previous = match reasons
            .first()
            .and_then(|r| r.item())
            .filter(|i| !i.is_empty())
        {
            Some(item) => Some(decode_token(item.clone())?),
            None => self.get_token_item(&old.token_hash).await?,
        };
        let Some(previous) = previous else {
            return Ok(Rotation::Invalid);
        };
        if previous.revoked || previous.expires_at <= now || previous.family_id != old.family_id {
            return Ok(Rotation::Invalid);
        }
        let Some(rotated_at) = previous.rotated_at else {
            return Ok(Rotation::Invalid);
        };
        if now.saturating_sub(rotated_at) <= grace
            && previous.successor_hash.as_deref() == Some(successor.token_hash.as_str())
        {
            let current = self.get_token_item(&successor.token_hash).await?;
            if let Some(current) = current
                && !current.revoked
                && current.rotated_at.is_none()
                && current.expires_at > now
            {
                return Ok(Rotation::GraceReplay {
                    scope: current.scope,
                });
            }
        }
        self.revoke_family(&old.family_id).await?;
        Ok(Rotation::ReuseDetected)
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        self.calls.record("UpdateItem");
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.refresh_tokens)
            .key("pk", s(family_pk(family_id)))
            .update_expression("SET revoked = :true")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(classify("UpdateItem", e)),
        }
    }

    async fn revoke_family_ahead(
        &self,
        family_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        // Unconditional: when the family row does not exist yet, this creates it revoked, and
        // the first token's transactional put (`attribute_not_exists(pk)` on the family) fails.
        self.calls.record("UpdateItem");
        self.client
            .update_item()
            .table_name(&self.tables.refresh_tokens)
            .key("pk", s(family_pk(family_id)))
            .update_expression(
                "SET revoked = :true, family_id = if_not_exists(family_id, :family), expires_at = if_not_exists(expires_at, :expires)",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":family", s(family_id))
            .expression_attribute_values(":expires", n(expires_at))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("UpdateItem", e))
    }

    async fn revoke_client(&self, client_id: &str) -> Result<(), StoreError> {
        // The by-client index is eventually consistent: a family created in the last moment may
        // be missed here. The token endpoint authenticates the client on every grant, so a
        // deleted client's tokens are refused regardless.
        let mut start: Option<Item> = None;
        loop {
            self.calls.record("Query");
            let page = self
                .client
                .query()
                .table_name(&self.tables.refresh_tokens)
                .index_name(schema::BY_CLIENT_INDEX)
                .key_condition_expression("family_client_id = :client")
                .expression_attribute_values(":client", s(client_id))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            for item in page.items() {
                if let Some(AttributeValue::S(pk)) = item.get("pk")
                    && let Some(family_id) = pk.strip_prefix("family#")
                {
                    self.revoke_family(family_id).await?;
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(()),
            }
        }
    }
}
