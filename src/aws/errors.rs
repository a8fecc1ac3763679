//! SDK errors → [`ProviderError`]: one clear line, never a wall of SDK text.

use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::provider::ProviderError;

type SdkError<E> = aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>;

/// The first line of an error chain, trimmed to something a person reads.
fn short(text: &str) -> String {
    let t = crate::model::sanitize(text);
    let mut out: String = t.chars().take(300).collect();
    if t.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// Classifies an SDK error of operation `op` (e.g. `ecs:DescribeServices`) on `resource`.
pub fn classify<E>(err: &SdkError<E>, op: &str, resource: &str) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let chain = format!("{}", DisplayErrorContext(err));
    let root = root_cause(err);
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("");
            let msg = short(e.message().unwrap_or(code));
            let retry_after = se
                .raw()
                .headers()
                .get("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(std::time::Duration::from_secs);
            match code {
                "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded" => ProviderError::Throttled {
                    message: format!("{op}: {msg}"),
                    retry_after,
                },
                "AccessDeniedException"
                | "AccessDenied"
                | "UnauthorizedOperation"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "ExpiredTokenException"
                | "ExpiredToken"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch" => ProviderError::Auth {
                    message: format!("{op} on {resource} was refused ({code}): {msg}"),
                },
                "ClusterNotFoundException" => ProviderError::NotFound {
                    what: "cluster".to_string(),
                    name: resource.to_string(),
                },
                "ServiceNotFoundException" | "ServiceNotActiveException" => {
                    ProviderError::NotFound {
                        what: "service".to_string(),
                        name: resource.to_string(),
                    }
                }
                "ResourceNotFound" | "ResourceNotFoundException" => ProviderError::NotFound {
                    what: "resource".to_string(),
                    name: format!("{resource} ({msg})"),
                },
                "ApplicationDoesNotExistException"
                | "DeploymentGroupDoesNotExistException"
                | "DeploymentDoesNotExistException" => ProviderError::NotFound {
                    what: "CodeDeploy resource".to_string(),
                    name: format!("{resource} ({msg})"),
                },
                // Lambda: an update already running, or a precondition
                // (RevisionId, CodeSha256) that no longer holds.
                "UpdateInProgressException"
                | "ConflictException"
                | "ResourceInUseException"
                | "ResourceConflictException"
                | "PreconditionFailedException" => ProviderError::Conflict {
                    message: format!("{op} on {resource}: {msg}"),
                },
                // Lambda's PublishVersion when $LATEST no longer holds the
                // expected code: a concurrent change, refused, never published.
                "InvalidParameterValueException" if msg.contains("CodeSHA256") => {
                    ProviderError::Conflict {
                        message: format!("{op} on {resource}: {msg}"),
                    }
                }
                // A refusal without a code (an IAM check answering XML or
                // HTML in front of a JSON API) is still a refusal.
                "" if se.raw().status().as_u16() == 403 => ProviderError::Auth {
                    message: format!(
                        "{op} on {resource} was refused (HTTP 403){}",
                        if msg.is_empty() {
                            String::new()
                        } else {
                            format!(": {msg}")
                        }
                    ),
                },
                "ClientException" | "InvalidParameterException"
                    if msg.to_lowercase().contains("not found")
                        || msg.to_lowercase().contains("unable to describe") =>
                {
                    ProviderError::NotFound {
                        what: "resource".to_string(),
                        name: format!("{resource} ({msg})"),
                    }
                }
                _ => ProviderError::Other {
                    message: format!("{op} on {resource} failed ({code}): {msg}"),
                },
            }
        }
        SdkError::TimeoutError(_) => ProviderError::Network {
            message: format!("{op} on {resource} timed out"),
        },
        SdkError::DispatchFailure(d) if d.is_timeout() => ProviderError::Network {
            message: format!("{op} on {resource} timed out"),
        },
        SdkError::DispatchFailure(d) if d.is_io() => ProviderError::Network {
            message: format!("cannot reach the endpoint for {op}: {}", short(&root)),
        },
        _ if looks_like_credentials(&chain) => ProviderError::Auth {
            message: format!(
                "no usable AWS credentials for {resource} ({}); check the profile, or run `aws sso login`",
                short(root.split(". ").next().unwrap_or(&root))
            ),
        },
        SdkError::ResponseError(_) => ProviderError::Other {
            message: format!(
                "could not understand the answer to {op} on {resource}: {}",
                short(&root)
            ),
        },
        _ => ProviderError::Other {
            message: format!("{op} on {resource} failed: {}", short(&root)),
        },
    }
}

/// The deepest cause's own message (the SDK nests the useful one at the bottom).
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let m = e.to_string();
        if !m.trim().is_empty() {
            msg = m;
        }
        cur = e.source();
    }
    msg
}

fn looks_like_credentials(chain: &str) -> bool {
    let l = chain.to_lowercase();
    l.contains("credential") || l.contains("sso") || l.contains("token has expired")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::config::http::HttpResponse;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(
        code: &str,
        message: &str,
        retry_after: Option<&str>,
    ) -> SdkError<DescribeServicesError> {
        with_status(400, code, message, retry_after)
    }

    fn with_status(
        status: u16,
        code: &str,
        message: &str,
        retry_after: Option<&str>,
    ) -> SdkError<DescribeServicesError> {
        let mut raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        if let Some(r) = retry_after {
            raw.headers_mut().insert("retry-after", r.to_string());
        }
        let err = DescribeServicesError::generic(
            ErrorMetadata::builder().code(code).message(message).build(),
        );
        SdkError::service_error(err, raw)
    }

    #[test]
    fn throttling_keeps_the_retry_after_it_saw() {
        let e = classify(
            &service_error("ThrottlingException", "Rate exceeded", Some("7")),
            "ecs:DescribeServices",
            "shop-prod",
        );
        assert_eq!(
            e,
            ProviderError::Throttled {
                message: "ecs:DescribeServices: Rate exceeded".into(),
                retry_after: Some(std::time::Duration::from_secs(7)),
            }
        );
        assert!(e.is_transient());
    }

    #[test]
    fn access_denied_names_the_action_and_the_resource() {
        let e = classify(
            &service_error(
                "AccessDeniedException",
                "User: arn:aws:sts::1:assumed-role/dev/alice is not authorized",
                None,
            ),
            "ecs:UpdateService",
            "shop-api-prod",
        );
        let ProviderError::Auth { message } = e else {
            panic!("{e:?}")
        };
        assert!(
            message.starts_with(
                "ecs:UpdateService on shop-api-prod was refused (AccessDeniedException)"
            ),
            "{message}"
        );
    }

    #[test]
    fn lambda_preconditions_are_conflicts_and_a_bare_403_is_a_refusal() {
        for code in ["ResourceConflictException", "PreconditionFailedException"] {
            assert!(
                matches!(
                    classify(
                        &service_error(code, "changed", None),
                        "lambda:UpdateAlias",
                        "f:live"
                    ),
                    ProviderError::Conflict { .. }
                ),
                "{code}"
            );
        }
        let e = classify(
            &service_error(
                "InvalidParameterValueException",
                "CodeSHA256 (abc) is different from current CodeSHA256 in $LATEST (def). Please try again with the CodeSHA256 in $LATEST.",
                None,
            ),
            "lambda:PublishVersion",
            "f",
        );
        assert!(matches!(e, ProviderError::Conflict { .. }), "{e:?}");
        // moto's IAM check answers XML with no code in front of Lambda's JSON.
        let e = classify(
            &with_status(403, "", "", None),
            "lambda:UpdateAlias",
            "f:live",
        );
        assert_eq!(
            e,
            ProviderError::Auth {
                message: "lambda:UpdateAlias on f:live was refused (HTTP 403)".into()
            }
        );
        // Without a code and not 403: not called a refusal.
        let e = classify(
            &with_status(500, "", "", None),
            "lambda:UpdateAlias",
            "f:live",
        );
        assert!(matches!(e, ProviderError::Other { .. }), "{e:?}");
    }

    #[test]
    fn a_missing_codedeploy_group_is_not_found() {
        for code in [
            "ApplicationDoesNotExistException",
            "DeploymentGroupDoesNotExistException",
        ] {
            let e = classify(
                &service_error(code, "does not exist", None),
                "codedeploy:ListDeployments",
                "app/group",
            );
            assert_eq!(
                e.to_string(),
                "CodeDeploy resource not found: app/group (does not exist)",
                "{code}"
            );
        }
    }

    #[test]
    fn not_found_conflict_and_timeouts() {
        assert!(matches!(
            classify(&service_error("ClusterNotFoundException", "Cluster not found.", None), "ecs:DescribeServices", "nope"),
            ProviderError::NotFound { what, name } if what == "cluster" && name == "nope"
        ));
        assert!(matches!(
            classify(&service_error("ServiceNotActiveException", "Service was not ACTIVE.", None), "ecs:UpdateService", "api"),
            ProviderError::NotFound { what, .. } if what == "service"
        ));
        assert!(matches!(
            classify(
                &service_error("UpdateInProgressException", "busy", None),
                "ecs:UpdateService",
                "api"
            ),
            ProviderError::Conflict { .. }
        ));
        let t: SdkError<DescribeServicesError> = SdkError::timeout_error("slow");
        assert!(matches!(
            classify(&t, "ecs:DescribeServices", "c"),
            ProviderError::Network { .. }
        ));
        let other = classify(
            &service_error("Weird", "something", None),
            "ecs:DescribeServices",
            "c",
        );
        assert!(
            matches!(other, ProviderError::Other { ref message } if message.contains("(Weird)")),
            "{other:?}"
        );
    }
}
