//! The auth function's signer when the stage says `signing: kms`: every access token is signed
//! by AWS KMS (`kms:Sign`, ECDSA_SHA_256), so the private key never exists outside KMS.

use aws_sdk_kms::{
    error::DisplayErrorContext,
    primitives::Blob,
    types::{MessageType, SigningAlgorithmSpec},
};

use super::{RemoteSign, RemoteSignError, p256_signature_from_der};

/// KMS signs a RAW message of at most this many bytes; a longer signing input is hashed here
/// and sent as a DIGEST (moto, the test emulator, implements RAW only, and access tokens stay
/// far below the limit unless a user has a very long list of groups).
const RAW_MESSAGE_LIMIT: usize = 4096;

/// Signs with one KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`): the [`RemoteSign`] of `signing: kms`.
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    key_arn: String,
}

impl KmsSigner {
    /// A signer for `key_arn` through `client`.
    pub fn new(client: aws_sdk_kms::Client, key_arn: String) -> Self {
        Self { client, key_arn }
    }
}

#[async_trait::async_trait]
impl RemoteSign for KmsSigner {
    async fn sign(&self, signing_input: &[u8]) -> Result<[u8; 64], RemoteSignError> {
        let (message, message_type) = if signing_input.len() <= RAW_MESSAGE_LIMIT {
            (signing_input.to_vec(), MessageType::Raw)
        } else {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, signing_input);
            (digest.as_ref().to_vec(), MessageType::Digest)
        };
        let output = self
            .client
            .sign()
            .key_id(&self.key_arn)
            .message(Blob::new(message))
            .message_type(message_type)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| {
                let message = format!(
                    "KMS could not sign with {}: {} (the auth function needs kms:Sign on it; \
                     `mcpctl deploy` grants it)",
                    self.key_arn,
                    DisplayErrorContext(&e)
                );
                if is_transient(&e) {
                    RemoteSignError::transient(message)
                } else {
                    RemoteSignError::permanent(message)
                }
            })?;
        let der = output
            .signature
            .ok_or_else(|| RemoteSignError::permanent("KMS answered Sign without a signature"))?;
        p256_signature_from_der(der.as_ref())
    }
}

/// Whether a failed Sign may succeed when retried: no answer in time or at all, throttling, or
/// KMS saying so itself; a missing key or a denied permission will not.
fn is_transient(
    error: &aws_sdk_kms::error::SdkError<
        aws_sdk_kms::operation::sign::SignError,
        aws_sdk_kms::config::http::HttpResponse,
    >,
) -> bool {
    use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let error = service.err();
            error.is_kms_internal_exception()
                || error.is_dependency_timeout_exception()
                || error.is_key_unavailable_exception()
                || matches!(
                    error.code(),
                    Some("ThrottlingException" | "LimitExceededException")
                )
        }
        _ => false,
    }
}
