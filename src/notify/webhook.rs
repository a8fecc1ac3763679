//! One POST of a body to a webhook. The URL is a secret: no error carries it
//! (reqwest's errors name the URL, so only their kind is kept).

use std::time::Duration;

use super::deliver::AttemptError;

/// The header a receiver drops repeats by (also sent as `Idempotency-Key`).
pub const DEDUPE_HEADER: &str = "X-Shipdeck-Dedupe-Key";

/// The HTTP client for webhooks: rustls, no redirects (a redirect would send
/// the body somewhere the secret URL did not name).
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("shipdeck/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))
}

/// POSTs `body` (JSON) with its dedupe key and event name as headers.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: String,
    dedupe_key: &str,
    event: &str,
    timeout: Duration,
) -> Result<(), AttemptError> {
    let sent = client
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", dedupe_key)
        .header(DEDUPE_HEADER, dedupe_key)
        .header("X-Shipdeck-Event", event)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) => judge(r.status().as_u16()),
        Err(e) if e.is_timeout() => Err(AttemptError::Retry("timed out".to_string())),
        Err(e) if e.is_connect() => Err(AttemptError::Retry(
            "could not connect to the webhook".to_string(),
        )),
        Err(e) if e.is_builder() => Err(AttemptError::Permanent(
            "the webhook's URL (secret) is not a usable URL".to_string(),
        )),
        Err(_) => Err(AttemptError::Retry("the request failed".to_string())),
    }
}

/// A status: delivered (2xx), worth a retry (408, 429, 5xx), or refused.
fn judge(status: u16) -> Result<(), AttemptError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(AttemptError::Retry(format!("HTTP {status}"))),
        _ => Err(AttemptError::Permanent(format!("HTTP {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_judged() {
        assert_eq!(judge(204), Ok(()));
        assert!(matches!(judge(503), Err(AttemptError::Retry(_))));
        assert!(matches!(judge(429), Err(AttemptError::Retry(_))));
        assert_eq!(
            judge(404),
            Err(AttemptError::Permanent("HTTP 404".to_string()))
        );
    }
}
