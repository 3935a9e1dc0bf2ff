-- Issue 20: validate the foreign keys 0038 added NOT VALID: each scans its table under SHARE
-- UPDATE EXCLUSIVE (reads and writes go on) and takes ROW SHARE on the table it references.
ALTER TABLE as_login_sessions VALIDATE CONSTRAINT as_login_sessions_user_fkey;
ALTER TABLE mcp_connect_tickets VALIDATE CONSTRAINT mcp_connect_tickets_user_fkey;
ALTER TABLE oauth_authorization_requests VALIDATE CONSTRAINT oauth_authorization_requests_resource_fkey;
ALTER TABLE oauth_authorization_codes VALIDATE CONSTRAINT oauth_authorization_codes_resource_fkey;
ALTER TABLE oauth_authorization_codes VALIDATE CONSTRAINT oauth_authorization_codes_user_fkey;
ALTER TABLE oauth_consents VALIDATE CONSTRAINT oauth_consents_resource_fkey;
ALTER TABLE oauth_consents VALIDATE CONSTRAINT oauth_consents_user_fkey;
ALTER TABLE oauth_token_families VALIDATE CONSTRAINT oauth_token_families_resource_fkey;
ALTER TABLE oauth_token_families VALIDATE CONSTRAINT oauth_token_families_user_fkey;
ALTER TABLE oauth_refresh_tokens VALIDATE CONSTRAINT oauth_refresh_tokens_family_fkey;
