//! The operator commands: admin calls to the broker, and `resolve` through the gateway.

pub mod admin;
pub mod agent_sessions;
pub mod agents;
pub mod audit;
pub mod connect;
pub mod mcp;
pub mod proxy;
pub mod resolve;
pub mod webhooks;
