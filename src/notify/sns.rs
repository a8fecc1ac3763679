//! One `Publish` to an SNS topic, through the session every AWS API shares
//! (`crate::aws::session`: region, profile, an emulator's endpoint). The
//! client's own retries are off: the delivery loop's bound is the only one.

use aws_sdk_sns::types::MessageAttributeValue;

use super::deliver::AttemptError;
use crate::config::aws::AwsAccess;
use crate::provider::ProviderError;

/// The message attribute that carries the dedupe key.
pub const DEDUPE_ATTRIBUTE: &str = "dedupe_key";

/// A client for a sink's topic.
pub async fn client(access: &AwsAccess) -> aws_sdk_sns::Client {
    let sdk = crate::aws::session(Some(access), None).await;
    let mut conf = aws_sdk_sns::config::Builder::from(&sdk)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
    if let Some(u) = access.endpoint("sns") {
        conf = conf.endpoint_url(u);
    }
    aws_sdk_sns::Client::from_conf(conf.build())
}

fn attribute(value: &str) -> Result<MessageAttributeValue, AttemptError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|_| AttemptError::Permanent("sns: bad message attribute".to_string()))
}

/// Publishes `body` with the dedupe key and event as message attributes
/// (and, on a FIFO topic, as its deduplication id).
pub async fn publish(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    body: String,
    dedupe_key: &str,
    event: &str,
    group: &str,
) -> Result<(), AttemptError> {
    let mut req = client
        .publish()
        .topic_arn(topic_arn)
        .message(body)
        .message_attributes(DEDUPE_ATTRIBUTE, attribute(dedupe_key)?)
        .message_attributes("event", attribute(event)?);
    if topic_arn.strip_suffix(".fifo").is_some() {
        // At most 128 characters; the key is a hash (and an event name).
        let id: String = dedupe_key.chars().take(128).collect();
        req = req.message_deduplication_id(id).message_group_id(group);
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(match crate::aws::classify(&e, "sns:Publish", topic_arn) {
            ProviderError::Throttled { .. } => AttemptError::Retry("sns: throttled".to_string()),
            ProviderError::Network { .. } => {
                AttemptError::Retry("sns: could not reach the topic".to_string())
            }
            ProviderError::Auth { .. } => {
                AttemptError::Permanent("sns: not authorised".to_string())
            }
            ProviderError::NotFound { .. } => {
                AttemptError::Permanent("sns: topic not found".to_string())
            }
            ProviderError::Conflict { message } | ProviderError::Other { message } => {
                AttemptError::Retry(format!("sns: {}", crate::model::text::clip(&message, 160)))
            }
        }),
    }
}
