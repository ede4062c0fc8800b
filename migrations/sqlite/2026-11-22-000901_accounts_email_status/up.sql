-- Lookups by email nearly always filter on the status too (live logins, logins that are
-- not deactivated). With the status in the index those lookups, and the legacy import's
-- closing pass over every shared address, read the index alone instead of one table row
-- per account.
DROP INDEX accounts_email_normalized;
CREATE INDEX accounts_email_status ON accounts (email_normalized, status);
