//! The account key kept in a Secrets Manager secret: read at cold start, and read again when
//! Fauna rejects the key, so a warm sandbox follows a rotation instead of failing until its
//! next cold start.
//!
//! The secret string is the key itself, or a JSON object `{"FAUNA_ACCOUNT_KEY": "<key>"}` (what
//! the console's key/value editor makes). A secret that cannot be read for good (missing,
//! denied, empty, another JSON shape) is a [`SecretError::Unreadable`]; one that cannot be read
//! right now (throttled, the service failing, no connection) is [`SecretError::Unavailable`],
//! which a retry may get past.

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use serde::Deserialize;

use super::AccountKey;

/// The JSON field of a key/value secret that holds the key.
pub(crate) const SECRET_FIELD: &str = "FAUNA_ACCOUNT_KEY";

/// Reads the account key from one secret.
#[derive(Debug, Clone)]
pub struct SecretReader {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

/// The secret could not give the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "FAUNA_ACCOUNT_KEY_SECRET_ARN names a secret that cannot be read ({detail}): check the ARN, that the function may call secretsmanager:GetSecretValue on it, and that it holds the key or {{\"{SECRET_FIELD}\": \"<key>\"}}"
    )]
    Unreadable { detail: String },
    #[error(
        "the account key's secret cannot be read right now ({detail}). This is transient: retry the step later"
    )]
    Unavailable { detail: String },
}

impl SecretReader {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String) -> SecretReader {
        SecretReader { client, secret_id }
    }

    /// The key the secret holds now.
    pub async fn read(&self) -> Result<AccountKey, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                let detail = crate::aws_error::describe(&e);
                if is_transient(&e) {
                    SecretError::Unavailable { detail }
                } else {
                    SecretError::Unreadable { detail }
                }
            })?;
        key_of(out.secret_string().unwrap_or_default())
    }
}

/// Whether a failed GetSecretValue may succeed if made again: no answer, throttling, or the
/// service failing.
fn is_transient<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::ServiceError(service) => matches!(
            service.err().code(),
            Some("ThrottlingException" | "InternalServiceError" | "InternalFailure")
        ),
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    }
}

/// The key a secret string holds: the string itself, or the `FAUNA_ACCOUNT_KEY` of a JSON
/// object.
fn key_of(secret: &str) -> Result<AccountKey, SecretError> {
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(SecretError::Unreadable {
            detail: "it holds no secret string".into(),
        });
    }
    if !secret.starts_with('{') {
        return Ok(AccountKey::new(secret.to_owned()));
    }
    #[derive(Deserialize)]
    struct KeyValue {
        #[serde(rename = "FAUNA_ACCOUNT_KEY")]
        key: Option<String>,
    }
    match serde_json::from_str::<KeyValue>(secret) {
        Ok(KeyValue { key: Some(key) }) if !key.trim().is_empty() => {
            Ok(AccountKey::new(key.trim().to_owned()))
        }
        // Never quote the secret: it may be the key under another name.
        _ => Err(SecretError::Unreadable {
            detail: format!("it is a JSON object without a \"{SECRET_FIELD}\" string"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_holds_the_key_or_a_key_value_object() {
        assert_eq!(key_of(" fnac-plain \n").unwrap().expose(), "fnac-plain");
        assert_eq!(
            key_of(r#"{"FAUNA_ACCOUNT_KEY": "fnac-json"}"#)
                .unwrap()
                .expose(),
            "fnac-json"
        );
        for bad in [
            "",
            "  ",
            r#"{"key": "fnac-elsewhere"}"#,
            r#"{"FAUNA_ACCOUNT_KEY": ""}"#,
            "{not json",
        ] {
            let err = key_of(bad).unwrap_err();
            assert!(
                matches!(err, SecretError::Unreadable { .. }),
                "{bad}: {err}"
            );
            assert!(!err.to_string().contains("fnac-elsewhere"), "{err}");
        }
    }

    #[test]
    fn throttling_and_no_answer_are_transient_a_missing_secret_is_not() {
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
        use aws_smithy_types::error::ErrorMetadata;
        let service = |code: &str| {
            let err = GetSecretValueError::generic(ErrorMetadata::builder().code(code).build());
            SdkError::service_error(err, ())
        };
        assert!(is_transient(&service("ThrottlingException")));
        assert!(is_transient(&service("InternalServiceError")));
        assert!(!is_transient(&service("ResourceNotFoundException")));
        assert!(!is_transient(&service("AccessDeniedException")));
        let timeout: SdkError<GetSecretValueError, ()> = SdkError::timeout_error("no answer");
        assert!(is_transient(&timeout));
    }
}
