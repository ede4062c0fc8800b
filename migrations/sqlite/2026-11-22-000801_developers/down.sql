DROP INDEX clients_developer;
DROP TABLE client_registrations;
DROP TABLE initial_access_tokens;
DROP TABLE developer_links;
DROP TABLE developer_sessions;
DROP TABLE developers;
