-- no-transaction
-- Issue 20: a non-unique index on the delivery id alone, for the one lookup that comes before
-- the workspace is known (the admin's redelivery by id, `POST /admin/v1/webhook-deliveries/
-- {id}/redeliver`; on a sharded database it fans out). Ids still come from one sequence.
-- An interrupted build leaves an INVALID index:
-- `DROP INDEX CONCURRENTLY webhook_deliveries_id;`, then restart.
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_deliveries_id ON webhook_deliveries (id);
