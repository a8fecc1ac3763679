use std::time::Duration;

use super::*;

fn o() -> Op<'static> {
    op("ListMachines", "app", "edge-prod")
}

#[test]
fn an_answer_is_classified_by_its_status_with_what_the_api_said() {
    let name = "Machines API at http://x";
    let e = classify(name, o(), 401, None, "token invalid");
    assert!(
        matches!(&e, ProviderError::Auth { message } if message.contains("refused the token (401)") && message.contains("token invalid")),
        "{e:?}"
    );
    assert!(matches!(
        classify(name, o(), 403, None, ""),
        ProviderError::Auth { .. }
    ));
    assert_eq!(
        classify(name, o(), 404, None, "app not found"),
        ProviderError::NotFound {
            what: "app".into(),
            name: "edge-prod".into()
        }
    );
    assert!(matches!(
        classify(name, o(), 409, None, "held"),
        ProviderError::Conflict { .. }
    ));
    assert_eq!(
        classify(name, o(), 429, Some(Duration::from_secs(2)), "slow down"),
        ProviderError::Throttled {
            message: format!("{name} throttled ListMachines: slow down"),
            retry_after: Some(Duration::from_secs(2)),
        }
    );
    assert!(classify(name, o(), 503, None, "").is_transient());
    assert!(matches!(
        classify(name, o(), 502, None, ""),
        ProviderError::Network { .. }
    ));
    assert!(matches!(
        classify(name, o(), 422, None, "image not found"),
        ProviderError::Other { message } if message.contains("422") && message.contains("image not found")
    ));
}

#[test]
fn what_an_error_answer_says_is_outside_text_clipped_to_one_line() {
    assert_eq!(said(br#"{"error":"app not found"}"#), "app not found");
    assert_eq!(
        said(br#"{"status":"error","message":"held","code":"invalid"}"#),
        "held"
    );
    let s = said(b"<html>\x1b[31mbad\ngateway</html>");
    assert!(!s.chars().any(char::is_control), "{s:?}");
    assert!(s.contains("gateway"), "{s:?}");
    let long = "x".repeat(1000);
    let s = said(long.as_bytes());
    assert_eq!(s.chars().count(), 301, "{s}");
    assert!(s.ends_with('…'));
}

#[test]
fn the_holder_and_expiry_are_read_from_the_apis_words() {
    let m = "machine ID 3d8d413b29d089 lease currently held by ci@acme.dev, expires at 2026-08-20 10:00:00 +0000 UTC";
    let (owner, at) = held_by(m).unwrap();
    assert_eq!(owner, "ci@acme.dev");
    assert_eq!(
        chrono::DateTime::from_timestamp(at, 0)
            .unwrap()
            .to_rfc3339(),
        "2026-08-20T10:00:00+00:00"
    );
    assert_eq!(held_by("conflict"), None);
    assert_eq!(held_by("held by x, expires at soon"), None);
}
