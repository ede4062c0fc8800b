-- Self-service lookups: a security code is found by the flow it belongs to (a reset
-- link or an invitation), and an invitation's open siblings by its record.
CREATE INDEX one_time_codes_subject ON one_time_codes (purpose, subject);
CREATE INDEX invitations_email ON invitations (email);
