-- Kinds an admin granted to a user beyond the ordinary ones: kinds that run the user's own code
-- (`spark`) need a grant (`vocloud user grant NAME KIND`); admins need none.

CREATE TABLE user_grants (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT   NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind)
);
