-- Developers who register apps, separate from patients' logins: their own accounts,
-- sessions and emailed links; initial access tokens for dynamic client registration
-- (RFC 7591 §3); and what a dynamically registered client said about itself.
-- The SQLite and PostgreSQL folders hold the same statements.

-- A developer account. The email is the login, unique after normalisation.
CREATE TABLE developers (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    organization TEXT,
    password_hash TEXT NOT NULL,
    password_changed_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (email_normalized <> '')
);

-- Browser sessions of the developer portal (cookie `pfid_dev_session`); only the
-- cookie's digest is stored. Kept apart from patients' sessions so neither kind of
-- cookie ever opens the other's pages.
CREATE TABLE developer_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    developer_id TEXT NOT NULL REFERENCES developers (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX developer_sessions_developer ON developer_sessions (developer_id);

-- Emailed one-time links: 'signup' confirms an address and only then creates the
-- account from `data` (so nobody can pre-claim an address they cannot read);
-- 'reset' sets a new password. Stored as digests.
CREATE TABLE developer_links (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('signup', 'reset')),
    token_hash TEXT NOT NULL UNIQUE,
    email_normalized TEXT NOT NULL,
    developer_id TEXT REFERENCES developers (id) ON DELETE CASCADE,
    data TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX developer_links_email ON developer_links (email_normalized, purpose);

-- Initial access tokens for the registration endpoint (RFC 7591 §3), made by a
-- developer in the portal (apps registered with it are theirs) or by an operator.
CREATE TABLE initial_access_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    developer_id TEXT REFERENCES developers (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP
);
CREATE INDEX initial_access_tokens_developer ON initial_access_tokens (developer_id);

-- Metadata of a dynamically registered client that only the registration API reads.
CREATE TABLE client_registrations (
    client_id TEXT PRIMARY KEY NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    contacts TEXT NOT NULL,
    initial_access_token_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE INDEX clients_developer ON clients (developer_id);
