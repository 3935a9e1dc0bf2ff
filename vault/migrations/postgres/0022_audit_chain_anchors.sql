-- Issue 20, audit retention: where each chain starts after its oldest records were pruned.
-- `nexus audit prune` deletes a chain's records up to the head of a signed checkpoint and
-- writes that head here in the same transaction: `anchor_id` and `anchor_hash` are the id and
-- link of the newest pruned record (the first remaining record's `prev_hash` must equal
-- `anchor_hash`), `pruned` the number of records removed (so positions and counts still
-- compare with checkpoints). `mac` is an HMAC-SHA256 over the row under the chain key of
-- master key `mac_key`, so an anchor moved by someone without the keyring does not verify.
-- A new, empty table: no lock on anything large.
CREATE TABLE audit_chain_anchors (
    chain        TEXT PRIMARY KEY,
    anchor_id    BIGINT NOT NULL,
    anchor_hash  TEXT NOT NULL,
    pruned       BIGINT NOT NULL,
    mac_key      TEXT NOT NULL,
    mac          TEXT NOT NULL,
    pruned_at    BIGINT NOT NULL
);
