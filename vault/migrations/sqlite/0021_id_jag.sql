-- ID-JAG (MCP enterprise-managed authorization, design 17 §2.4): which of a workspace's trusted
-- identity providers may issue Identity Assertion JWT Authorization Grants redeemed at the
-- authorization server's token endpoint. Off by default: trusting an issuer for On-Behalf-Of
-- does not let it mint MCP access tokens. 0/1 (the store reads both dialects as integers).
ALTER TABLE identity_providers ADD COLUMN allow_id_jag BIGINT NOT NULL DEFAULT 0;
