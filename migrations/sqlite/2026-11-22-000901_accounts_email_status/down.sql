DROP INDEX accounts_email_status;
CREATE INDEX accounts_email_normalized ON accounts (email_normalized);
