-- The web UI: accounts an admin can disable or give their own quota, named API tokens, and
-- indexes for the job pages (newest first per owner, and across owners for admins).

-- A disabled account keeps its files and jobs but cannot log in or use its tokens.
ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
-- Bytes this user may occupy; NULL follows limits.user_quota_bytes, 0 is unlimited.
ALTER TABLE users ADD COLUMN quota_bytes BIGINT;
-- What the user called the token ("laptop", "notebook on the cluster").
ALTER TABLE api_tokens ADD COLUMN label TEXT NOT NULL DEFAULT '';

CREATE INDEX jobs_owner_created ON jobs (owner_id, creation_time, id);
CREATE INDEX jobs_created ON jobs (creation_time, id);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
