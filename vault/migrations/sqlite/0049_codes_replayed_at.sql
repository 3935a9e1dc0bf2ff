-- An authorization code remembers that it was presented again after it was spent, so the
-- token family of the exchange that spent it is refused when the replay lands first.
ALTER TABLE oauth_authorization_codes ADD COLUMN replayed_at INTEGER;
