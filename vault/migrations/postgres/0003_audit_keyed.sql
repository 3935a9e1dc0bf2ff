-- Issue 14 items 5 and 13: a keyed audit chain and server-side request ids.
--
-- `mac_key` is the id of the master key the record's HMAC key was derived from (the key itself
-- is never stored here); NULL marks a record of the older plain SHA-256 chain, which stays
-- verifiable as the prefix of its chain. `client_request_id` keeps what a client sent as
-- `X-Request-Id`; `request_id` becomes a server-generated id, unique per record. Older records
-- keep their client value in `client_request_id` and get `legacy-<id>`.
ALTER TABLE audit_events ADD COLUMN client_request_id TEXT;
ALTER TABLE audit_events ADD COLUMN mac_key TEXT;
UPDATE audit_events SET client_request_id = request_id, request_id = 'legacy-' || id;
CREATE UNIQUE INDEX audit_events_request_id ON audit_events(request_id);
