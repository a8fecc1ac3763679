//! The `Authorization` header a bearer of a token sends, by the token's
//! shape: one rule for every HTTP client shipdeck has (Prometheus and
//! Alertmanager in `signals`, Fly's Machines API).
//!
//! Fly's tokens (fly-go `tokens/tokens.go` `Parse`): macaroons, the tokens
//! `fly tokens create` makes (`fm1r_…`, `fm1a_…`, `fm2_…`), go as
//! `FlyV1 <token>`; every other token (`fly auth token`, a Prometheus or
//! Grafana token) as `Bearer <token>`. Fly's Prometheus takes both (docs
//! `monitoring/metrics.html.md`). A value that already names its scheme
//! (`FlyV1 fm2_…,fm2_…`, `Bearer …`) is sent as it is.

/// The prefixes of Fly's macaroon tokens.
const MACAROON_PREFIXES: &[&str] = &["fm1r_", "fm1a_", "fm2_"];

/// The `Authorization` value for `token`, by its shape; surrounding
/// whitespace (a pasted newline) is dropped.
pub fn authorization(token: &str) -> String {
    let t = token.trim();
    if t.starts_with("FlyV1 ") || t.starts_with("Bearer ") {
        return t.to_string();
    }
    if MACAROON_PREFIXES.iter().any(|p| t.starts_with(p)) {
        format!("FlyV1 {t}")
    } else {
        format!("Bearer {t}")
    }
}

#[cfg(test)]
mod tests {
    use super::authorization;

    #[test]
    fn the_token_goes_in_the_scheme_its_shape_asks_for() {
        assert_eq!(authorization("fm2_lJPECAAA"), "FlyV1 fm2_lJPECAAA");
        assert_eq!(authorization("fm1r_abc"), "FlyV1 fm1r_abc");
        assert_eq!(authorization("fm1a_abc"), "FlyV1 fm1a_abc");
        assert_eq!(authorization("fo1_personal"), "Bearer fo1_personal");
        assert_eq!(
            authorization("s3cret-token-value"),
            "Bearer s3cret-token-value"
        );
        // Not a macaroon: the prefix must be whole.
        assert_eq!(authorization("fm2abc"), "Bearer fm2abc");
        // A value that names its scheme is sent as it is.
        assert_eq!(authorization("FlyV1 fm2_x,fm2_y"), "FlyV1 fm2_x,fm2_y");
        assert_eq!(authorization("Bearer abc"), "Bearer abc");
        assert_eq!(authorization("  fm2_pasted\n"), "FlyV1 fm2_pasted");
    }
}
