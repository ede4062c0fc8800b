-- Keys compare byte by byte. These columns hold identifiers, digests and normalised
-- lookup keys, never text a person reads in order, yet under the database's default
-- collation (en_US.UTF-8, C.UTF-8, ...) every B-tree step on them went through the
-- locale's strcoll: a profile of the legacy import had a sixth of PostgreSQL's time in
-- text comparison. With "C" the same comparisons are a memcmp; equality, uniqueness
-- and the order of ids and normalised (lower-case) keys are what they were under
-- C.UTF-8. ALTER TYPE to the same type rebuilds the columns' indexes but keeps the rows.
ALTER TABLE patients
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN external_id TYPE TEXT COLLATE "C",
    ALTER COLUMN email_normalized TYPE TEXT COLLATE "C";
ALTER TABLE accounts
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN legacy_id TYPE TEXT COLLATE "C",
    ALTER COLUMN username_normalized TYPE TEXT COLLATE "C",
    ALTER COLUMN email_normalized TYPE TEXT COLLATE "C";
ALTER TABLE account_patients
    ALTER COLUMN account_id TYPE TEXT COLLATE "C",
    ALTER COLUMN patient_id TYPE TEXT COLLATE "C";
ALTER TABLE clients
    ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE client_secrets
    ALTER COLUMN client_id TYPE TEXT COLLATE "C";
ALTER TABLE grants
    ALTER COLUMN account_id TYPE TEXT COLLATE "C",
    ALTER COLUMN client_id TYPE TEXT COLLATE "C";
ALTER TABLE sessions
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN account_id TYPE TEXT COLLATE "C";
ALTER TABLE authorization_codes
    ALTER COLUMN code_hash TYPE TEXT COLLATE "C";
ALTER TABLE token_families
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN account_id TYPE TEXT COLLATE "C",
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN code_hash TYPE TEXT COLLATE "C";
ALTER TABLE refresh_tokens
    ALTER COLUMN token_hash TYPE TEXT COLLATE "C",
    ALTER COLUMN family_id TYPE TEXT COLLATE "C";
ALTER TABLE access_tokens
    ALTER COLUMN token_hash TYPE TEXT COLLATE "C",
    ALTER COLUMN account_id TYPE TEXT COLLATE "C",
    ALTER COLUMN client_id TYPE TEXT COLLATE "C",
    ALTER COLUMN family_id TYPE TEXT COLLATE "C",
    ALTER COLUMN code_hash TYPE TEXT COLLATE "C";
