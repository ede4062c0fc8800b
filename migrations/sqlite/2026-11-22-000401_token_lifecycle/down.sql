DROP INDEX access_tokens_session;
DROP INDEX token_families_session;
DROP INDEX authorization_codes_session;
DROP TABLE pushed_requests;
DROP TABLE client_assertions;
