//! The one check of a package, and its download from `Code.Location`
//! against a local server: bounded in size (said or streamed), in time, by
//! status, and never saying the URL.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const WHAT: &str = "thumbs-staging:2 in staging";
const LONG: Duration = Duration::from_secs(30);

/// What the local server answers.
enum Answer {
    /// These bytes, then the connection closes.
    Bytes(Vec<u8>),
    /// A header saying `Content-Length: n`, and no body.
    Says(u64),
    /// A chunked body of `n` bytes, one chunk a KiB.
    Streams(usize),
    /// Nothing, ever.
    Hangs,
}

/// A server on a free local port answering every request with `answer`.
async fn serve(answer: Answer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                match &*answer {
                    Answer::Bytes(b) => {
                        let _ = conn.write_all(b).await;
                    }
                    Answer::Says(n) => {
                        let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
                        let _ = conn.write_all(h.as_bytes()).await;
                        tokio::time::sleep(LONG).await;
                    }
                    Answer::Streams(n) => {
                        let h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                        let _ = conn.write_all(h.as_bytes()).await;
                        let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
                        for _ in 0..n / 1024 {
                            if conn.write_all(chunk.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        let _ = conn.write_all(b"0\r\n\r\n").await;
                    }
                    Answer::Hangs => tokio::time::sleep(LONG).await,
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}/snapshots/123/thumbs?X-Amz-Signature=s3cr3t")
}

fn ok(body: &[u8]) -> Answer {
    let mut b = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    b.extend_from_slice(body);
    Answer::Bytes(b)
}

fn zip(body: &[u8]) -> Vec<u8> {
    let mut b = b"PK\x03\x04".to_vec();
    b.extend_from_slice(body);
    b
}

#[test]
fn a_package_is_taken_only_when_its_sha256_is_the_promoted_digest() {
    let package = zip(b"handler v2");
    let promoted = Digest::of_bytes(&package);
    assert_eq!(verify(&package, &promoted, WHAT, PACKAGE_LIMIT), Ok(()));
    // The digest a zip version's CodeSha256 reads as is the same check.
    let from_api =
        super::super::digest::digest_of("Zip", &super::super::digest::zip_code_sha256(&package));
    assert_eq!(from_api, Ok(promoted.clone()));
    let mut corrupted = package.clone();
    corrupted[5] ^= 1;
    let e = verify(&corrupted, &promoted, WHAT, PACKAGE_LIMIT).unwrap_err();
    let found = Digest::of_bytes(&corrupted);
    assert_eq!(
        e,
        PackageError::Mismatch {
            what: WHAT.to_string(),
            found: found.clone(),
            expected: promoted.clone(),
        }
    );
    let said = e.to_string();
    assert!(
        said.contains(found.as_str()) && said.contains(promoted.as_str()),
        "{said}"
    );
    assert!(said.contains("nothing was uploaded"), "{said}");
    // Over the limit is refused before it is hashed.
    let len = u64::try_from(package.len()).unwrap();
    let e = verify(&package, &promoted, WHAT, len - 1).unwrap_err();
    assert!(
        matches!(e, PackageError::TooBig { size: Some(n), .. } if n == len),
        "{e:?}"
    );
    assert_eq!(verify(&package, &promoted, WHAT, len), Ok(()));
}

#[test]
fn the_limit_is_lambda_s_and_said_in_megabytes() {
    assert_eq!(PACKAGE_LIMIT, 52_428_800);
    let e = PackageError::TooBig {
        what: WHAT.to_string(),
        size: Some(PACKAGE_LIMIT + 1),
        limit: PACKAGE_LIMIT,
    };
    assert_eq!(
        e.to_string(),
        "thumbs-staging:2 in staging: the package is 52428801 bytes, more than the 50 MB a zip \
         uploaded through the Lambda API may weigh; promoting through S3 is not built"
    );
    let streamed = PackageError::TooBig {
        what: WHAT.to_string(),
        size: None,
        limit: PACKAGE_LIMIT,
    };
    assert!(
        streamed.to_string().contains("over 52428800 bytes"),
        "{streamed}"
    );
}

#[tokio::test]
async fn a_package_is_downloaded_whole() {
    let package = zip(&[7u8; 10_000]);
    let url = serve(ok(&package)).await;
    let got = download(&url, WHAT, PACKAGE_LIMIT, LONG).await.unwrap();
    assert_eq!(got, package);
}

#[tokio::test]
async fn a_package_that_says_it_is_too_big_is_refused_unread() {
    let url = serve(Answer::Says(PACKAGE_LIMIT + 1)).await;
    // Refused on the header: the server never sends the body, and the
    // download does not wait for it.
    let e = download(&url, WHAT, PACKAGE_LIMIT, LONG).await.unwrap_err();
    assert!(
        matches!(e, PackageError::TooBig { size: Some(n), .. } if n == PACKAGE_LIMIT + 1),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_streamed_package_is_cut_off_at_the_limit() {
    let url = serve(Answer::Streams(64 * 1024)).await;
    let e = download(&url, WHAT, 16 * 1024, LONG).await.unwrap_err();
    assert!(
        matches!(e, PackageError::TooBig { size: None, .. }),
        "{e:?}"
    );
    // Under the limit, the same stream is read whole.
    let got = download(&url, WHAT, 64 * 1024, LONG).await.unwrap();
    assert_eq!(got.len(), 64 * 1024);
}

#[tokio::test]
async fn an_error_status_a_silence_and_a_bad_location_are_refused_without_the_url() {
    let url = serve(Answer::Bytes(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 13\r\nConnection: close\r\n\r\nAccessDenied!"
            .to_vec(),
    ))
    .await;
    let e = download(&url, WHAT, PACKAGE_LIMIT, LONG).await.unwrap_err();
    assert_eq!(
        e,
        PackageError::Status {
            what: WHAT.to_string(),
            status: 403
        }
    );
    let url = serve(Answer::Hangs).await;
    let e = download(&url, WHAT, PACKAGE_LIMIT, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(e, PackageError::Timeout { .. }), "{e:?}");
    assert!(matches!(
        ProviderError::from(e),
        ProviderError::Network { .. }
    ));
    // Nobody listens: a network failure, the presigned query never said.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}/p?X-Amz-Signature=s3cr3t");
    let e = download(&url, WHAT, PACKAGE_LIMIT, LONG).await.unwrap_err();
    assert!(matches!(e, PackageError::Network { .. }), "{e:?}");
    // The causes are said, down to the refusal.
    assert!(e.to_string().contains("refused"), "{e}");
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
    assert!(!format!("{e:?}").contains("s3cr3t"), "{e:?}");
    for bad in ["file:///etc/passwd", "ftp://x/y", "not a url", ""] {
        let e = download(bad, WHAT, PACKAGE_LIMIT, LONG).await.unwrap_err();
        assert_eq!(
            e,
            PackageError::BadLocation {
                what: WHAT.to_string()
            }
        );
    }
}
