//! The public paths of protocol v1 (served by the gateway, called by every SDK).
//!
//! Connection ids are opaque strings; clients percent-encode them as one path segment.

/// `GET`: resolve a credential (query: [`crate::ResolveQuery`]) → [`crate::ResolveResponse`].
pub const RESOLVE: &str = "/v1/resolve";
/// `POST`: start a connect flow ([`crate::RequestConnectionInput`]) →
/// [`crate::RequestConnectionResponse`].
pub const REQUEST_CONNECTION: &str = "/v1/request-connection";
/// `POST`: a signed, single-use link to the broker's connect page for the caller's workspace
/// ([`crate::connect_link::ConnectLinkRequest`]) → 201 [`crate::connect_link::ConnectLinkResponse`].
pub const CONNECT_LINKS: &str = "/v1/connect-links";
/// `GET /v1/check-connection/{connection_id}` → [`crate::CheckConnectionResponse`].
pub const CHECK_CONNECTION_PREFIX: &str = "/v1/check-connection/";
/// `GET /v1/token/{connection_id}` → [`crate::ResolveResponse`].
pub const TOKEN_PREFIX: &str = "/v1/token/";
/// `POST /v1/refresh/{connection_id}` → [`crate::ResolveResponse`].
pub const REFRESH_PREFIX: &str = "/v1/refresh/";

/// Route template of [`CHECK_CONNECTION_PREFIX`] (`{id}`: the connection id).
pub const CHECK_CONNECTION: &str = "/v1/check-connection/{id}";
/// Route template of [`TOKEN_PREFIX`].
pub const TOKEN: &str = "/v1/token/{id}";
/// Route template of [`REFRESH_PREFIX`].
pub const REFRESH: &str = "/v1/refresh/{id}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_extend_their_prefixes() {
        for (prefix, template) in [
            (CHECK_CONNECTION_PREFIX, CHECK_CONNECTION),
            (TOKEN_PREFIX, TOKEN),
            (REFRESH_PREFIX, REFRESH),
        ] {
            assert_eq!(format!("{prefix}{{id}}"), template);
        }
    }
}
