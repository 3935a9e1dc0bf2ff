-- Who a connection belongs to (issue 17). NULL: the workspace (any of its API keys and agent
-- sessions may resolve it, as before). 'mcp_user': made through an MCP connect ticket for one
-- MCP user (`user_id`), reachable only through that user's own access token
-- (`POST /v1/mcp/user-credential`); workspace resolves answer as if it did not exist.
ALTER TABLE connections ADD COLUMN owner_kind TEXT;
