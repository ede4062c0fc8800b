-- Back to the database's default collation.
ALTER TABLE patients
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN external_id TYPE TEXT COLLATE "default",
    ALTER COLUMN email_normalized TYPE TEXT COLLATE "default";
ALTER TABLE accounts
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN legacy_id TYPE TEXT COLLATE "default",
    ALTER COLUMN username_normalized TYPE TEXT COLLATE "default",
    ALTER COLUMN email_normalized TYPE TEXT COLLATE "default";
ALTER TABLE account_patients
    ALTER COLUMN account_id TYPE TEXT COLLATE "default",
    ALTER COLUMN patient_id TYPE TEXT COLLATE "default";
ALTER TABLE clients
    ALTER COLUMN id TYPE TEXT COLLATE "default";
ALTER TABLE client_secrets
    ALTER COLUMN client_id TYPE TEXT COLLATE "default";
ALTER TABLE grants
    ALTER COLUMN account_id TYPE TEXT COLLATE "default",
    ALTER COLUMN client_id TYPE TEXT COLLATE "default";
ALTER TABLE sessions
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN account_id TYPE TEXT COLLATE "default";
ALTER TABLE authorization_codes
    ALTER COLUMN code_hash TYPE TEXT COLLATE "default";
ALTER TABLE token_families
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN account_id TYPE TEXT COLLATE "default",
    ALTER COLUMN client_id TYPE TEXT COLLATE "default",
    ALTER COLUMN code_hash TYPE TEXT COLLATE "default";
ALTER TABLE refresh_tokens
    ALTER COLUMN token_hash TYPE TEXT COLLATE "default",
    ALTER COLUMN family_id TYPE TEXT COLLATE "default";
ALTER TABLE access_tokens
    ALTER COLUMN token_hash TYPE TEXT COLLATE "default",
    ALTER COLUMN account_id TYPE TEXT COLLATE "default",
    ALTER COLUMN client_id TYPE TEXT COLLATE "default",
    ALTER COLUMN family_id TYPE TEXT COLLATE "default",
    ALTER COLUMN code_hash TYPE TEXT COLLATE "default";
