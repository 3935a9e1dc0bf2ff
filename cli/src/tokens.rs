//! Start-up checks of the two service tokens of `nexus serve`: a guessable or shared token would
//! hand out the admin API, or let anyone who holds the admin token act as a gateway on the
//! internal API (and forge principals there).

use crate::error::{CliError, CliResult};
use nexus_protocol::SecretString;

/// Shortest admin or internal token accepted, in characters (`openssl rand -base64 32` gives 44).
pub const MIN_TOKEN_CHARS: usize = 32;

/// Refuse a token shorter than [`MIN_TOKEN_CHARS`] and an admin token equal to the internal token.
/// Either may be absent (a gateway alone has no admin token). Messages name the settings, never a
/// value.
pub fn check_service_tokens(
    admin: Option<&SecretString>,
    internal: Option<&SecretString>,
) -> CliResult<()> {
    for (name, token) in [
        ("NEXUS_ADMIN_TOKEN", admin),
        ("NEXUS_INTERNAL_TOKEN", internal),
    ] {
        if let Some(token) = token
            && token.expose().chars().count() < MIN_TOKEN_CHARS
        {
            return Err(CliError::config(format!(
                "{name} is too short: use at least {MIN_TOKEN_CHARS} random characters\n  hint: generate one with `openssl rand -base64 32`"
            )));
        }
    }
    if let (Some(admin), Some(internal)) = (admin, internal)
        && admin.expose() == internal.expose()
    {
        return Err(CliError::config(
            "NEXUS_ADMIN_TOKEN and NEXUS_INTERNAL_TOKEN are the same: give each its own random value\n  hint: whoever holds the internal token can act as a gateway",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> SecretString {
        SecretString::new(text)
    }

    #[test]
    fn short_or_shared_tokens_are_refused_without_showing_them() {
        let long_a = token(&"a".repeat(MIN_TOKEN_CHARS));
        let long_b = token(&"b".repeat(MIN_TOKEN_CHARS));
        let short = token("short-secret-value");
        assert!(check_service_tokens(Some(&long_a), Some(&long_b)).is_ok());
        assert!(check_service_tokens(None, Some(&long_b)).is_ok());
        for (admin, internal, named) in [
            (Some(&short), Some(&long_b), "NEXUS_ADMIN_TOKEN"),
            (Some(&long_a), Some(&short), "NEXUS_INTERNAL_TOKEN"),
            (None, Some(&short), "NEXUS_INTERNAL_TOKEN"),
            (Some(&long_a), Some(&long_a), "are the same"),
        ] {
            let err = check_service_tokens(admin, internal).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let message = err.to_string();
            assert!(message.contains(named), "{message}");
            assert!(!message.contains("short-secret") && !message.contains("aaaa"));
        }
    }
}
