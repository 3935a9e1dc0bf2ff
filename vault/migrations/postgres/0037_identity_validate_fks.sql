-- Issue 20: validate the foreign key 0036 added NOT VALID: a scan of `agent_sessions` under
-- SHARE UPDATE EXCLUSIVE (reads and writes go on), ROW SHARE on `agents`.
ALTER TABLE agent_sessions VALIDATE CONSTRAINT agent_sessions_agent_fkey;
