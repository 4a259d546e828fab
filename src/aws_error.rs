//! One line describing an AWS SDK error, for every AWS call the exporter makes (S3, Secrets
//! Manager).

/// The service's own code and message when it sent them, otherwise the error chain, shortened
/// (the SDK's debug form can hold a whole response body).
pub fn describe<E>(err: &E) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => aws_smithy_types::error::display::DisplayErrorContext(err)
            .to_string()
            .chars()
            .take(300)
            .collect(),
    }
}
