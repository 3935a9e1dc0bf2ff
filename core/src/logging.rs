//! The bindings' one logging rule (feature `stderr-logging`): the core's logs go nowhere unless
//! `NEXUS_LOG` is set (e.g. `NEXUS_LOG=nexus_sdk=debug`), and then to stderr only — stdout
//! belongs to an MCP server's JSON-RPC.

/// Install the stderr subscriber described above, once per process. Another library in the
/// process may have installed a subscriber first; theirs is kept.
pub fn init_from_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(filter) = std::env::var("NEXUS_LOG") else {
            return;
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}
