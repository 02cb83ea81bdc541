-- Instants are Unix milliseconds (BIGINT) and flags are 0/1 integers: one SQL text serves
-- SQLite and PostgreSQL, and the clock is Rust's, not the database's.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   BIGINT  NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE jobs (
    id                 TEXT    PRIMARY KEY,
    kind               TEXT    NOT NULL,
    owner_id           BIGINT  NOT NULL REFERENCES users(id),
    experiment_id      BIGINT  REFERENCES experiments(id) ON DELETE SET NULL,
    run_id             TEXT,
    label              TEXT    NOT NULL DEFAULT '',
    notes              TEXT    NOT NULL DEFAULT '',
    phase              TEXT    NOT NULL,
    parameters         TEXT    NOT NULL,
    creation_time      BIGINT  NOT NULL,
    start_time         BIGINT,
    end_time           BIGINT,
    execution_duration BIGINT  NOT NULL,
    destruction_time   BIGINT,
    queued_at          BIGINT,
    error_type         TEXT,
    error_message      TEXT,
    error_detail       TEXT,
    progress_fraction  DOUBLE PRECISION,
    progress_message   TEXT,
    executor           TEXT,
    lease_owner        TEXT,
    lease_expires_at   BIGINT,
    attempt            BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX jobs_owner_kind_created ON jobs (owner_id, kind, creation_time);
CREATE INDEX jobs_kind_created ON jobs (kind, creation_time);
CREATE INDEX jobs_queue ON jobs (phase, queued_at);
CREATE INDEX jobs_destruction ON jobs (destruction_time);
CREATE INDEX jobs_experiment ON jobs (experiment_id);
