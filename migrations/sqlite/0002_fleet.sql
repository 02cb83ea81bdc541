-- The remote worker fleet: tokens an admin hands to worker hosts, and the workers that registered.

CREATE TABLE worker_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE workers (
    id             TEXT    PRIMARY KEY,
    token_id       BIGINT  NOT NULL REFERENCES worker_tokens(id) ON DELETE CASCADE,
    hostname       TEXT    NOT NULL,
    kinds          TEXT    NOT NULL,
    slots          BIGINT  NOT NULL,
    registered_at  BIGINT  NOT NULL,
    last_seen      BIGINT  NOT NULL
);

CREATE INDEX jobs_lease ON jobs (executor, phase, lease_expires_at);
