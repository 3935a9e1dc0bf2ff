-- Sessions end with their agent's credential (issue 14 item 2): every credential rotation and
-- every disable bumps the agent's generation; a session is usable only while the generation it
-- was minted under is still the agent's.
ALTER TABLE agents ADD COLUMN credential_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agent_sessions ADD COLUMN agent_generation BIGINT NOT NULL DEFAULT 0;
