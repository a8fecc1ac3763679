//! Image digests and image references: what a release *is*.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Number of hex characters shown in the short form of a digest.
pub const SHORT_DIGEST_LEN: usize = 12;

/// A validated image digest: `sha256:` followed by 64 lowercase hex characters.
///
/// Shared, not copied: one digest is held by the simulator, the reading, the
/// image reference, the revision history and the drift rows, for thousands of
/// services, so a clone is a reference count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(Arc<str>);

/// Why a string is not a digest or image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The digest does not start with `sha256:`.
    #[error("digest \"{0}\" must start with \"sha256:\"")]
    Algorithm(String),
    /// The hex part has the wrong length.
    #[error("digest \"{value}\" must have 64 hex characters after \"sha256:\", found {found}")]
    Length {
        /// The rejected input.
        value: String,
        /// How many characters followed the prefix.
        found: usize,
    },
    /// The hex part has a character that is not lowercase hex.
    #[error(
        "digest \"{0}\" may only contain lowercase hex characters (0-9, a-f) after \"sha256:\""
    )]
    NotHex(String),
    /// The image reference is empty.
    #[error("image reference is empty")]
    EmptyImage,
    /// The image reference is malformed.
    #[error("image reference \"{value}\" is malformed: {why}")]
    Image {
        /// The rejected input.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Lower-case hex of `bytes`, through a table (`hex::encode` goes char by
/// char through an iterator, which showed in the demo's start-up profile:
/// minting the digests of 6,000 simulated services).
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // The buffer is exactly twice the input, which is all encode_to_slice needs.
    if hex::encode_to_slice(bytes, &mut out).is_ok()
        && let Ok(s) = String::from_utf8(out)
    {
        return s;
    }
    hex::encode(bytes)
}

impl Digest {
    /// Parses and validates a digest string.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let Some(hex) = s.strip_prefix("sha256:") else {
            return Err(ParseError::Algorithm(s.to_string()));
        };
        if hex.len() != 64 {
            return Err(ParseError::Length {
                value: s.to_string(),
                found: hex.chars().count(),
            });
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ParseError::NotHex(s.to_string()));
        }
        Ok(Self(Arc::from(s)))
    }

    /// Builds the digest of arbitrary bytes (used by the simulator to mint releases).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        let sum = sha2::Sha256::digest(bytes);
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        s.push_str(&hex_lower(&sum));
        Self(Arc::from(s))
    }

    /// The full digest string, `sha256:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first twelve hex characters, the way `docker images` shows them.
    pub fn short(&self) -> &str {
        // Provably in bounds: parse() guarantees 7 + 64 ASCII bytes.
        &self.0[7..7 + SHORT_DIGEST_LEN]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0.to_string()
    }
}

/// A container image reference: `[registry[:port]/]repository[:tag][@sha256:…]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// Registry host, with port if any (`host:5000`); `None` for Docker Hub short names.
    pub registry: Option<String>,
    /// Repository path, e.g. `team/api`.
    pub repository: String,
    /// Tag, e.g. `1.2`.
    pub tag: Option<String>,
    /// Digest when the reference is pinned.
    pub digest: Option<Digest>,
    /// The image's version label where the reader knows it
    /// (`org.opencontainers.image.version`, a task definition's docker label, the
    /// simulator's image data): a name for people, never part of the reference
    /// (not written, not compared for identity: the digest is the identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The commit the image was built from where the reader knows it
    /// (`org.opencontainers.image.revision`): like `version`, a name for people,
    /// never part of the reference (not written, not compared for identity).
    /// Outside text: shown only through [`ImageRef::commit`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Where the image's source lives (`org.opencontainers.image.source`, a
    /// repository URL): like `version`, a name for people, never part of the
    /// reference. Outside text: shown only through [`ImageRef::source_name`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When the image was built (`org.opencontainers.image.created`, RFC
    /// 3339) where the reader knows it: like `version`, for people only.
    /// Outside text: shown only through [`ImageRef::built`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

impl ImageRef {
    /// Parses an image reference, including registries with ports and tag+digest forms.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let bad = |why| ParseError::Image {
            value: s.to_string(),
            why,
        };
        if s.trim().is_empty() {
            return Err(ParseError::EmptyImage);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains whitespace or control characters"));
        }
        let (name_and_tag, digest) = match s.split_once('@') {
            Some((left, d)) => (left, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        if name_and_tag.is_empty() {
            return Err(bad("the repository name is missing"));
        }
        // The registry is the first path component when it looks like a host:
        // it contains '.' or ':' or is "localhost".
        let (registry, rest) = match name_and_tag.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), rest)
            }
            _ => (None, name_and_tag),
        };
        if let Some(reg) = &registry
            && let Some((host, port)) = reg.rsplit_once(':')
            && (host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("the registry port must be a number"));
        }
        // A tag is after the last ':' of the last path component.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&rest[..split], Some(&rest[split + 1..]))
            }
            None => (rest, None),
        };
        if repository.is_empty() || repository.split('/').any(str::is_empty) {
            return Err(bad(
                "the repository name is missing or has an empty path component",
            ));
        }
        if !repository
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
        {
            return Err(bad(
                "the repository may only contain lowercase letters, digits, '.', '_', '-' and '/'",
            ));
        }
        if let Some(t) = tag {
            if t.is_empty() || t.len() > 128 {
                return Err(bad("the tag must have 1 to 128 characters"));
            }
            if !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(bad(
                    "the tag may only contain letters, digits, '.', '_' and '-'",
                ));
            }
        }
        Ok(Self {
            registry,
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
            version: None,
            revision: None,
            source: None,
            created: None,
        })
    }

    /// The name without tag or digest: `registry/repository`.
    pub fn name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.repository),
            None => self.repository.clone(),
        }
    }

    /// The same repository pinned to `digest` (`repo@sha256:…`), tag dropped,
    /// which is how shipdeck writes images on promotion.
    pub fn pinned_to(&self, digest: &Digest) -> Self {
        Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.clone()),
            // The labels belonged to the old image.
            version: None,
            revision: None,
            source: None,
            created: None,
        }
    }

    /// The commit label for people: a git hash shortened to seven characters
    /// (`9f8e7d6`), any other value whole; `None` when unknown or blank.
    /// Sanitised: a label is outside text.
    pub fn commit(&self) -> Option<String> {
        let clean = super::sanitize(self.revision.as_deref()?.trim());
        if clean.is_empty() {
            return None;
        }
        let hex = clean.len() >= 12 && clean.bytes().all(|b| b.is_ascii_hexdigit());
        Some(if hex { clean[..7].to_string() } else { clean })
    }

    /// The source label for people: the URL without its scheme, `.git` or
    /// trailing slash (`github.com/acme/edge`); `None` when unknown or blank.
    /// Sanitised: a label is outside text.
    pub fn source_name(&self) -> Option<String> {
        let clean = super::sanitize(self.source.as_deref()?.trim());
        let bare = clean
            .split_once("://")
            .map_or(clean.as_str(), |(_, rest)| rest);
        let bare = bare.trim_end_matches('/');
        let bare = bare.strip_suffix(".git").unwrap_or(bare);
        Some(bare.to_string()).filter(|s| !s.is_empty())
    }

    /// Where the image came from, for a plan or a detail line: `commit 9f8e7d6
    /// · github.com/acme/edge · built 2026-12-01 10:02Z`, any part alone, or
    /// `None` when no label is known.
    pub fn provenance(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.commit().map(|c| format!("commit {c}")),
            self.source_name(),
            self.built().map(|b| format!("built {b}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    /// When the image was built, for people: an RFC 3339 label in UTC to
    /// the minute (`2026-12-01 10:02Z`), any other value whole; `None` when
    /// unknown or blank. Sanitised: a label is outside text.
    pub fn built(&self) -> Option<String> {
        let clean = super::sanitize(self.created.as_deref()?.trim());
        if clean.is_empty() {
            return None;
        }
        Some(match chrono::DateTime::parse_from_rfc3339(&clean) {
            Ok(t) => t
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%MZ")
                .to_string(),
            Err(_) => clean,
        })
    }

    /// A link comparing the commits of `was` and `now` on their forge, where
    /// both are commit hashes and `now`'s source is on a forge whose compare
    /// page shipdeck knows (GitHub, GitLab, Codeberg, Bitbucket).
    pub fn compare_link(was: &Self, now: &Self) -> Option<String> {
        let hash = |i: &Self| {
            let r = i.revision.as_deref()?.trim();
            super::gitref::valid_commit(r).then(|| r.to_ascii_lowercase())
        };
        let (old, new) = (hash(was)?, hash(now)?);
        if old == new {
            return None;
        }
        let source = now.source_name()?;
        let (host, path) = source.split_once('/')?;
        let path_ok = path.split('/').count() >= 2
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        if !path_ok {
            return None;
        }
        match host {
            "github.com" | "codeberg.org" => {
                Some(format!("https://{host}/{path}/compare/{old}...{new}"))
            }
            "gitlab.com" => Some(format!("https://{host}/{path}/-/compare/{old}...{new}")),
            "bitbucket.org" => Some(format!(
                "https://{host}/{path}/branches/compare/{new}%0D{old}"
            )),
            _ => None,
        }
    }

    /// The release's name for people, beside its digest: the tag, the version
    /// label, or both when they differ (`latest (4.5.0)`); `None` when neither is
    /// known. Sanitised: a label is outside text.
    pub fn release_name(&self) -> Option<String> {
        release_name(self.tag.as_deref(), self.version.as_deref())
    }
}

/// See [`ImageRef::release_name`]: `v1.2` and `1.2` are one name.
pub fn release_name(tag: Option<&str>, version: Option<&str>) -> Option<String> {
    let clean = |s: &str| Some(super::sanitize(s)).filter(|s| !s.trim().is_empty());
    let tag = tag.and_then(clean);
    let version = version.and_then(clean);
    match (tag, version) {
        (Some(t), Some(v))
            if t == v || t.strip_prefix('v') == Some(&v) || v.strip_prefix('v') == Some(&t) =>
        {
            Some(t)
        }
        (Some(t), Some(v)) => Some(format!("{t} ({v})")),
        (t, v) => t.or(v),
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn d() -> String {
        format!("sha256:{HEX}")
    }

    #[test]
    fn digest_roundtrip_and_short() {
        let digest = Digest::parse(&d()).unwrap();
        assert_eq!(digest.as_str(), d());
        assert_eq!(digest.short(), "0123456789ab");
        assert_eq!(digest.to_string(), d());
    }

    #[rstest]
    #[case("md5:abc", "must start with \"sha256:\"")]
    #[case("sha256:abc", "found 3")]
    #[case(&format!("sha256:{}", HEX.to_uppercase()), "lowercase hex")]
    #[case(&format!("sha256:{}g", &HEX[..63]), "lowercase hex")]
    #[case("", "must start with")]
    fn digest_rejects(#[case] input: &str, #[case] needle: &str) {
        let err = Digest::parse(input).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }

    #[rstest]
    #[case("nginx", None, "nginx", None, false)]
    #[case("nginx:1.25", None, "nginx", Some("1.25"), false)]
    #[case("team/api:1.2", None, "team/api", Some("1.2"), false)]
    #[case("host:5000/team/api", Some("host:5000"), "team/api", None, false)]
    #[case(
        "host:5000/team/api:1.2",
        Some("host:5000"),
        "team/api",
        Some("1.2"),
        false
    )]
    #[case("localhost/api:dev", Some("localhost"), "api", Some("dev"), false)]
    #[case(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api:v3",
        Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
        "shop/api",
        Some("v3"),
        false
    )]
    fn image_parses(
        #[case] input: &str,
        #[case] registry: Option<&str>,
        #[case] repo: &str,
        #[case] tag: Option<&str>,
        #[case] pinned: bool,
    ) {
        let img = ImageRef::parse(input).unwrap();
        assert_eq!(img.registry.as_deref(), registry);
        assert_eq!(img.repository, repo);
        assert_eq!(img.tag.as_deref(), tag);
        assert_eq!(img.digest.is_some(), pinned);
        assert_eq!(img.to_string(), input);
    }

    #[test]
    fn image_with_port_tag_and_digest() {
        let input = format!("host:5000/team/api:1.2@{}", d());
        let img = ImageRef::parse(&input).unwrap();
        assert_eq!(img.registry.as_deref(), Some("host:5000"));
        assert_eq!(img.repository, "team/api");
        assert_eq!(img.tag.as_deref(), Some("1.2"));
        assert_eq!(img.digest.as_ref().unwrap().as_str(), d());
        assert_eq!(img.to_string(), input);
        let pinned = img.pinned_to(img.digest.as_ref().unwrap());
        assert_eq!(pinned.to_string(), format!("host:5000/team/api@{}", d()));
    }

    #[rstest]
    #[case("")]
    #[case("   ")]
    #[case("api@sha256:123")]
    #[case("host:port/api")]
    #[case("Team/API")]
    #[case("api:")]
    #[case("api:bad/tag")]
    #[case("//api")]
    #[case("api with space")]
    #[case("api:t\u{1b}[31m")]
    fn image_rejects(#[case] input: &str) {
        assert!(
            ImageRef::parse(input).is_err(),
            "{input:?} should be rejected"
        );
    }

    #[test]
    fn release_names_from_tag_and_version() {
        let mut img = ImageRef::parse(&format!("r.io/shop/api:2.5.0@{}", d())).unwrap();
        assert_eq!(img.release_name().as_deref(), Some("2.5.0"));
        img.version = Some("2.5.0".into());
        assert_eq!(img.release_name().as_deref(), Some("2.5.0"));
        img.tag = Some("v2.5.0".into());
        assert_eq!(img.release_name().as_deref(), Some("v2.5.0"));
        img.tag = Some("latest".into());
        assert_eq!(img.release_name().as_deref(), Some("latest (2.5.0)"));
        img.tag = None;
        assert_eq!(img.release_name().as_deref(), Some("2.5.0"));
        // A label is outside text: control characters never reach a screen.
        img.version = Some("6.0\u{1b}[2J".into());
        assert_eq!(img.release_name().as_deref(), Some("6.0"));
        img.version = None;
        assert_eq!(img.release_name(), None);
        // The label is no part of the reference, nor of the image a promotion writes.
        img.version = Some("2.5.0".into());
        assert_eq!(img.to_string(), format!("r.io/shop/api@{}", d()));
        let d2 = Digest::of_bytes(b"x");
        assert_eq!(img.pinned_to(&d2).version, None);
    }

    #[test]
    fn commit_and_source_labels_are_names_for_people_only() {
        let mut img = ImageRef::parse(&format!("registry.fly.io/edge@{}", d())).unwrap();
        assert_eq!(img.provenance(), None);
        img.revision = Some("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432".into());
        img.source = Some("https://github.com/acme/edge.git".into());
        assert_eq!(img.commit().as_deref(), Some("9f8e7d6"));
        assert_eq!(img.source_name().as_deref(), Some("github.com/acme/edge"));
        assert_eq!(
            img.provenance().as_deref(),
            Some("commit 9f8e7d6 · github.com/acme/edge")
        );
        // A short hash or a name stays whole; outside text is sanitised; blank is unknown.
        img.revision = Some("1a2b3c4d".into());
        assert_eq!(img.commit().as_deref(), Some("1a2b3c4d"));
        img.revision = Some("rc\u{1b}[2J-7".into());
        assert_eq!(img.commit().as_deref(), Some("rc-7"));
        img.revision = Some("  ".into());
        img.source = None;
        assert_eq!(img.provenance(), None);
        // Never part of the reference, nor of the image a promotion writes.
        img.revision = Some("1a2b3c4d".into());
        img.source = Some("https://github.com/acme/edge".into());
        assert_eq!(img.to_string(), format!("registry.fly.io/edge@{}", d()));
        let pinned = img.pinned_to(&Digest::of_bytes(b"x"));
        assert_eq!((pinned.revision, pinned.source), (None, None));
    }

    proptest::proptest! {
        #[test]
        fn image_parse_never_panics(s in ".{0,80}") {
            let _ = ImageRef::parse(&s);
        }

        #[test]
        fn valid_digests_roundtrip(hex in "[0-9a-f]{64}") {
            let s = format!("sha256:{hex}");
            let parsed = Digest::parse(&s).unwrap();
            proptest::prop_assert_eq!(parsed.as_str(), s.as_str());
            let reparsed = ImageRef::parse(&format!("r.io/a/b:1@{s}")).unwrap();
            proptest::prop_assert_eq!(reparsed.digest, Some(parsed));
        }
    }
}
