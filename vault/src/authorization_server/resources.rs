//! MCP resources (the servers tokens are minted for) and Rule R: two `resource` values name
//! the same server when their normal forms are equal — scheme and host lower-cased, default
//! port dropped, and the one `/` of an empty path removed (`https://h` = `https://H/`).

use super::AuthorizationServerService;
use crate::error::VaultError;
use crate::store::mcp_resources::ResourceRow;
use crate::store::now_ms;
use nexus_protocol::WorkspaceId;
use nexus_protocol::oauth::{McpResource, NewMcpResource};

pub const DEFAULT_TTL_SECONDS: u64 = 600;
pub const TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=3600;
/// Asked for by some clients to get a refresh token; never a resource scope (design D6).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The normal form of a resource URI, or why it is not one (the rule lives in the protocol
/// crate, so resource servers compare audiences exactly as they were minted).
pub use nexus_protocol::oauth::normalize_resource as normalize;

/// RFC 6749 §3.3 scope-token syntax (printable ASCII, no space, `"` or `\`).
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl AuthorizationServerService {
    /// Register an MCP server's resource URI in a workspace.
    pub async fn add_resource(
        &self,
        ws: &WorkspaceId,
        body: NewMcpResource,
    ) -> Result<McpResource, VaultError> {
        self.store.require_workspace(ws.as_str()).await?;
        let uri = normalize(&body.resource_uri).map_err(VaultError::invalid)?;
        let mut scopes = body.scopes;
        scopes.sort();
        scopes.dedup();
        if scopes
            .iter()
            .any(|s| !is_scope_token(s) || s == OFFLINE_ACCESS)
        {
            return Err(VaultError::invalid(
                "scopes must be RFC 6749 scope tokens (printable ASCII, no spaces), and not offline_access",
            ));
        }
        let default_scopes = match body.default_scopes {
            Some(mut d) => {
                d.sort();
                d.dedup();
                if d.iter().any(|s| !scopes.contains(s)) {
                    return Err(VaultError::invalid(
                        "default_scopes must be a subset of scopes",
                    ));
                }
                d
            }
            None => scopes.clone(),
        };
        let ttl = body.access_token_ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
        if !TTL_RANGE.contains(&ttl) {
            return Err(VaultError::invalid(
                "access_token_ttl_seconds must be between 60 and 3600",
            ));
        }
        let name = match body.name {
            Some(n) if !n.trim().is_empty() && n.len() <= 128 => n,
            Some(_) => return Err(VaultError::invalid("name must be 1 to 128 characters")),
            None => url::Url::parse(&uri)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| uri.clone()),
        };
        let row = ResourceRow {
            id: super::random_id("mres_"),
            workspace_id: ws.as_str().to_owned(),
            resource_uri: uri,
            name,
            scopes,
            default_scopes,
            access_token_ttl_seconds: ttl,
            created_at: now_ms(),
            disabled_at: None,
        };
        self.store.insert_mcp_resource(&row).await?;
        Ok(row.to_wire())
    }

    pub async fn list_resources(&self, ws: &WorkspaceId) -> Result<Vec<McpResource>, VaultError> {
        self.store.require_workspace(ws.as_str()).await?;
        let rows = self.store.list_mcp_resources(ws.as_str()).await?;
        Ok(rows.iter().map(ResourceRow::to_wire).collect())
    }

    /// Disable a resource: no new authorizations, refreshes or tokens for it.
    pub async fn disable_resource(&self, ws: &WorkspaceId, id: &str) -> Result<(), VaultError> {
        self.store.disable_mcp_resource(ws.as_str(), id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_r_normal_forms() {
        assert_eq!(
            normalize("HTTPS://Mcp.Example.COM/").unwrap(),
            "https://mcp.example.com"
        );
        assert_eq!(
            normalize("https://mcp.example.com:443").unwrap(),
            "https://mcp.example.com"
        );
        assert_eq!(
            normalize("http://127.0.0.1:9000/mcp").unwrap(),
            "http://127.0.0.1:9000/mcp"
        );
        assert_eq!(
            normalize("http://127.0.0.1:9000/mcp/").unwrap(),
            "http://127.0.0.1:9000/mcp/"
        );
        for bad in [
            "",
            "mcp.example.com",
            "ftp://x/",
            "https://x/#f",
            "https://u@x/",
        ] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
        // Idempotent.
        for uri in ["https://A.example/", "http://127.0.0.1:1/x?y=1"] {
            let once = normalize(uri).unwrap();
            assert_eq!(normalize(&once).unwrap(), once);
        }
    }

    #[test]
    fn scope_tokens() {
        assert!(is_scope_token("repos:read"));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token(""));
    }
}
