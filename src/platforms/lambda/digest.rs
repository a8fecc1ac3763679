//! A Lambda version's artifact as a digest, so drift and the gates compare it
//! exactly as they compare an image's.
//!
//! `CodeSha256` means two things: for an image function it is the image's
//! manifest digest in hex; for a zip function it is the SHA-256 of the
//! package in base64. Both become `sha256:` and 64 lowercase hex characters.
//! `ImageUri`/`ResolvedImageUri` are never used for identity (emulators share
//! and mangle them).

use crate::model::Digest;
use crate::model::digest::hex_lower;

/// The length of a SHA-256 in base64 (32 bytes, padded).
const BASE64_LEN: usize = 44;

/// The digest of a version's artifact from its `PackageType` (`Image` or
/// `Zip`) and its `CodeSha256`.
pub fn digest_of(package_type: &str, code_sha256: &str) -> Result<Digest, String> {
    match package_type {
        "Image" => image(code_sha256),
        "Zip" => zip(code_sha256),
        other => Err(format!(
            "package type {} is neither Image nor Zip, so its artifact has no digest shipdeck \
             knows how to read",
            shown(other)
        )),
    }
}

/// `CodeSha256` as Lambda reports it for a zip package: the base64 of the
/// package's SHA-256, to check a downloaded package against its version.
pub fn zip_code_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    aws_smithy_types::base64::encode(sha2::Sha256::digest(bytes))
}

/// An image function's `CodeSha256`: the manifest digest's 64 lowercase hex characters.
fn image(code_sha256: &str) -> Result<Digest, String> {
    let hex = code_sha256.len() == 64
        && code_sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err(format!(
            "an image function's CodeSha256 {} is not an image digest (64 lowercase hex \
             characters)",
            shown(code_sha256)
        ));
    }
    Digest::parse(&format!("sha256:{code_sha256}"))
        .map_err(|e| crate::model::sanitize(&e.to_string()))
}

/// A zip function's `CodeSha256`: a SHA-256 in base64.
fn zip(code_sha256: &str) -> Result<Digest, String> {
    let bad = || {
        format!(
            "a zip function's CodeSha256 {} is not a SHA-256 in base64 (44 characters for 32 \
             bytes)",
            shown(code_sha256)
        )
    };
    if code_sha256.len() != BASE64_LEN {
        return Err(bad());
    }
    let bytes = aws_smithy_types::base64::decode(code_sha256).map_err(|_| bad())?;
    // One spelling per digest: a decoder may accept stray bits in the last
    // character, and two spellings of one package must not read as two.
    if bytes.len() != 32 || aws_smithy_types::base64::encode(&bytes) != code_sha256 {
        return Err(bad());
    }
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    s.push_str(&hex_lower(&bytes));
    Digest::parse(&s).map_err(|e| crate::model::sanitize(&e.to_string()))
}

/// Outside text in an error: quoted, one line, at most 80 characters.
fn shown(text: &str) -> String {
    const LIMIT: usize = 80;
    let clean = crate::model::sanitize(text);
    let mut out: String = clean.chars().take(LIMIT).collect();
    if clean.chars().count() > LIMIT {
        out.push('…');
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    /// SHA-256 of the empty input, in both of Lambda's spellings.
    const EMPTY_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const EMPTY_B64: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    #[test]
    fn an_image_digest_is_its_hex() {
        let d = digest_of("Image", EMPTY_HEX).unwrap();
        assert_eq!(d.as_str(), format!("sha256:{EMPTY_HEX}"));
    }

    #[test]
    fn a_zip_digest_is_its_base64_as_hex() {
        let d = digest_of("Zip", EMPTY_B64).unwrap();
        assert_eq!(d.as_str(), format!("sha256:{EMPTY_HEX}"));
        // The same package is the same digest whichever way it is packaged.
        assert_eq!(d, digest_of("Image", EMPTY_HEX).unwrap());
    }

    #[test]
    fn a_package_is_checked_against_its_code_sha256() {
        assert_eq!(zip_code_sha256(b""), EMPTY_B64);
        let package = b"PK\x03\x04 a zip package";
        let sha = zip_code_sha256(package);
        assert_eq!(digest_of("Zip", &sha).unwrap(), Digest::of_bytes(package));
        assert_ne!(zip_code_sha256(b"PK\x03\x04 another"), sha);
    }

    #[rstest]
    #[case("Image", "", "not an image digest")]
    #[case("Image", &EMPTY_HEX[..63], "not an image digest")]
    #[case("Image", &format!("{EMPTY_HEX}0"), "not an image digest")]
    #[case("Image", &EMPTY_HEX.to_uppercase(), "not an image digest")]
    #[case("Image", &format!("sha256:{}", &EMPTY_HEX[..57]), "not an image digest")]
    #[case("Image", &format!("g{}", &EMPTY_HEX[1..]), "not an image digest")]
    #[case("Image", EMPTY_B64, "not an image digest")]
    #[case("Image", &format!("é{}", &EMPTY_HEX[2..]), "not an image digest")]
    #[case("Zip", "", "not a SHA-256 in base64")]
    #[case("Zip", EMPTY_HEX, "not a SHA-256 in base64")]
    #[case("Zip", &EMPTY_B64[..43], "not a SHA-256 in base64")]
    #[case("Zip", &format!("{}!", &EMPTY_B64[..43]), "not a SHA-256 in base64")]
    #[case(
        "Zip",
        "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
        "not a SHA-256 in base64"
    )]
    #[case(
        "Zip",
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",
        "not a SHA-256 in base64"
    )]
    #[case(
        "Zip",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "not a SHA-256 in base64"
    )]
    #[case(
        "Zip",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        "not a SHA-256 in base64"
    )]
    #[case("zip", EMPTY_B64, "neither Image nor Zip")]
    #[case("", EMPTY_HEX, "neither Image nor Zip")]
    fn hostile_code_sha256_is_an_error(#[case] kind: &str, #[case] sha: &str, #[case] says: &str) {
        let err = digest_of(kind, sha).unwrap_err();
        assert!(err.contains(says), "{kind} {sha:?}: {err}");
    }

    #[test]
    fn control_characters_never_reach_the_error() {
        let hostile = "\u{1b}[2J\u{1b}]8;;http://x\u{7}click\u{202e}\r\n".repeat(20);
        for kind in ["Image", "Zip", hostile.as_str()] {
            let err = digest_of(kind, &hostile).unwrap_err();
            assert!(
                !err.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{err:?}"
            );
            assert!(err.chars().count() < 200, "{err}");
        }
    }

    proptest! {
        #[test]
        fn any_sha256_reads_back_as_itself(bytes in proptest::collection::vec(any::<u8>(), 32)) {
            let hex = hex_lower(&bytes);
            let b64 = aws_smithy_types::base64::encode(&bytes);
            let from_zip = digest_of("Zip", &b64).map_err(TestCaseError::fail)?;
            let from_image = digest_of("Image", &hex).map_err(TestCaseError::fail)?;
            prop_assert_eq!(from_zip.as_str(), format!("sha256:{hex}"));
            prop_assert_eq!(from_zip, from_image);
        }

        #[test]
        fn hostile_input_never_panics(kind in "Image|Zip|.{0,8}", sha in ".{0,100}") {
            if let Ok(d) = digest_of(&kind, &sha) {
                prop_assert!(Digest::parse(d.as_str()).is_ok());
            }
        }
    }
}
