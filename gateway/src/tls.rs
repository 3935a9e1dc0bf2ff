//! TLS for the gateway's one outgoing client: the internal API of the broker.
//!
//! rustls with the `ring` provider, so that building the gateway does not compile aws-lc-rs
//! (the vault's crypto stays in the vault's build). The provider is passed explicitly, never
//! taken from rustls' process default: in a build that also links a crate enabling rustls'
//! aws-lc-rs provider (the `nexus` CLI links the gateway, the broker and the SDK), rustls has two
//! providers compiled in, cannot choose a default, and `ClientConfig::builder()` would panic.
//! Certificates are checked by the platform verifier, as reqwest does by default.

use rustls::ClientConfig;
use rustls_platform_verifier::BuilderVerifierExt;
use std::sync::Arc;

/// The client TLS configuration for calls to the broker (HTTP/2 or HTTP/1.1 by ALPN).
pub fn broker_client_config() -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_its_own_provider_whatever_else_is_compiled_in() {
        // This test binary links the broker (dev-dependency), which enables rustls' aws-lc-rs
        // provider too: with two providers and no process default, a config that relied on the
        // default would panic here.
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        let config = broker_client_config().expect("TLS config");
        assert_eq!(config.alpn_protocols[1], b"http/1.1");
        assert!(!config.crypto_provider().cipher_suites.is_empty());
    }
}
