//! The refusals of identity operations, worded once (messages name scopes, never tokens).

use crate::error::VaultError;

pub(super) fn unauthorized(message: &str) -> VaultError {
    VaultError::Unauthenticated(message.into())
}

pub(super) fn scope_not_allowed(scopes: &[String]) -> VaultError {
    VaultError::ScopeNotAllowed(format!(
        "scope not allowed for this agent: {}",
        scopes.join(" ")
    ))
}

pub(super) fn user_not_authorized(scopes: &[String]) -> VaultError {
    VaultError::UserNotAuthorized(format!(
        "the user is not authorized for: {}",
        scopes.join(" ")
    ))
}
