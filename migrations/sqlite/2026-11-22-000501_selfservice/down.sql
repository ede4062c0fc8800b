DROP INDEX invitations_email;
DROP INDEX one_time_codes_subject;
