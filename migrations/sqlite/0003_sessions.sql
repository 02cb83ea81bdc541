-- Browser login sessions (the `vocloud_session` cookie). Only a SHA-256 of the random cookie
-- token is stored, so a database leak reveals no usable cookie; rows past expires_at are
-- ignored and swept at the next login; logout deletes the row.

CREATE TABLE browser_sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);
