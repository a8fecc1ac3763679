//! The shared AWS credentials and config files, read the way the SDK finds
//! them (`$AWS_SHARED_CREDENTIALS_FILE`, `$AWS_CONFIG_FILE`, else
//! `~/.aws/credentials` and `~/.aws/config`), checked before any client is
//! built: a control character in a key id, secret, session token or profile
//! there would reach a request header and make the SDK's signer panic
//! (`InvalidHeaderValue`). The value is never shown: it may be a secret.

use std::path::Path;

use crate::paths::expand_home;

/// Larger than any real credentials file; a bigger one is left to the SDK.
const LIMIT: u64 = 1024 * 1024;

/// The two files, each by the variable that moves it and its default place.
const FILES: [(&str, &str); 2] = [
    ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ("AWS_CONFIG_FILE", "~/.aws/config"),
];

/// Refuses a shared credentials or config file with a control character in a
/// profile line, naming the file, the line and the key. A file that is absent
/// or cannot be read is left to the SDK, which says so in its own words.
pub fn check_credential_files() -> Result<(), String> {
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    for (var, default) in FILES {
        let given = std::env::var_os(var).filter(|v| !v.is_empty());
        let path = expand_home(
            given.as_deref().map_or(Path::new(default), Path::new),
            home.as_deref(),
        );
        let Ok(Some(bytes)) = crate::paths::read_regular(&path, LIMIT) else {
            continue;
        };
        if let Some((line, what)) = control_character_in(&String::from_utf8_lossy(&bytes)) {
            return Err(format!(
                "{}:{line}: {what} contains a control character, which the AWS SDK cannot send\n  help: write it again without the stray character{}",
                crate::model::sanitize(&path.display().to_string()),
                given.map_or_else(String::new, |_| format!(" (the file {var} names)")),
            ));
        }
    }
    Ok(())
}

/// The first line (1-based) that holds a control character outside a
/// comment, and what it sets. Line ends (`\n`, `\r\n`) are the SDK's too, and
/// a tab is its whitespace; anything else would reach the SDK.
fn control_character_in(text: &str) -> Option<(usize, String)> {
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start_matches([' ', '\t']);
        if body.starts_with(['#', ';']) || !line.chars().any(|c| c.is_control() && c != '\t') {
            continue;
        }
        let what = if body.starts_with('[') {
            "a profile name".to_string()
        } else if body.len() < line.len() {
            "a continued value".to_string()
        } else {
            match line.split_once('=') {
                Some((key, _)) => format!(
                    "\"{}\"",
                    crate::model::sanitize(key.trim_matches([' ', '\t']))
                ),
                None => "a line".to_string(),
            }
        };
        return Some((n + 1, what));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_control_character_is_found_with_its_line_and_key() {
        let text = "# a comment \u{1}\n[default]\naws_access_key_id = AKIA\r\n\
                    aws_secret_access_key = ab\tcd\naws_session_token = to\u{1}ken\n";
        assert_eq!(
            control_character_in(text),
            Some((5, "\"aws_session_token\"".to_string()))
        );
        assert_eq!(
            control_character_in("[profile te\u{7f}st]\nregion = x\n"),
            Some((1, "a profile name".to_string()))
        );
        assert_eq!(
            control_character_in("[p]\ns3 =\n  max_concurrent_requests = 1\u{1b}\n"),
            Some((3, "a continued value".to_string()))
        );
        assert_eq!(
            control_character_in("[p]\naws_access_key_id = te\rst\n"),
            Some((2, "\"aws_access_key_id\"".to_string()))
        );
        // Windows line ends, tabs and comments are the SDK's to take.
        assert_eq!(
            control_character_in("[default]\r\naws_access_key_id\t= AKIA\r\n; x\u{1}\r\n"),
            None
        );
    }

    #[test]
    fn home_is_expanded_as_the_sdk_does() {
        let home = Path::new("/home/a");
        assert_eq!(
            expand_home(Path::new("~/.aws/config"), Some(home)),
            PathBuf::from("/home/a/.aws/config")
        );
        assert_eq!(
            expand_home(Path::new("/etc/creds"), Some(home)),
            PathBuf::from("/etc/creds")
        );
        assert_eq!(
            expand_home(Path::new("~/.aws/config"), None),
            PathBuf::from("~/.aws/config")
        );
    }
}
