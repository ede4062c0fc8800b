-- PostgreSQL's migration of this name makes key columns compare byte by byte. SQLite
-- compares text with BINARY (memcmp) unless told otherwise: nothing to change.
SELECT 1;
