-- Token lifecycle: client assertions seen (replay protection for private_key_jwt),
-- pushed authorization requests (RFC 9126), and indexes for logout by session.

-- Every private_key_jwt assertion accepted, until it expires: a `jti` is accepted once
-- per client across every node (RFC 7523 §3 item 7). Only the SHA-256 of the jti is
-- kept, so the key has a fixed length whatever the client sends.
CREATE TABLE client_assertions (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    jti_hash TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, jti_hash)
);
CREATE INDEX client_assertions_expires ON client_assertions (expires_at);

-- A pushed authorization request: its parameters, found by the SHA-256 of the random
-- part of its request_uri. `opened_at` is when the browser first brought it to
-- /authorize; `used_at` when the authorization response was sent.
CREATE TABLE pushed_requests (
    handle_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    opened_at TIMESTAMP,
    used_at TIMESTAMP
);
CREATE INDEX pushed_requests_client_expires ON pushed_requests (client_id, expires_at);

-- Logout finds what a browser session issued.
CREATE INDEX authorization_codes_session ON authorization_codes (session_id);
CREATE INDEX token_families_session ON token_families (session_id);
CREATE INDEX access_tokens_session ON access_tokens (session_id);
