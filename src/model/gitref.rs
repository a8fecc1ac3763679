//! What git accepts as a branch name and a commit id, decided once for
//! every place that hands one to `git` or shows one.

/// Whether git would accept `b` as a branch name (a conservative subset of
/// `git check-ref-format --branch`).
pub fn valid_branch(b: &str) -> bool {
    !b.is_empty()
        && b.len() <= 200
        && !b.starts_with('-')
        && !b.starts_with('/')
        && !b.ends_with('/')
        && !b.ends_with('.')
        && !b.to_ascii_lowercase().ends_with(".lock")
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("@{")
        && b != "@"
        && b.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"~^:?*[\\".contains(c))
}

/// Whether `c` is 7 to 64 hex characters.
pub fn valid_commit(c: &str) -> bool {
    (7..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_hexdigit())
}
