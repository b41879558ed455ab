DROP INDEX payload_grants_by_member;
DROP TABLE payload_grants;
DROP TABLE decision_records;
DROP INDEX members_by_provider;
DROP INDEX members_by_cleanup;
ALTER TABLE members DROP COLUMN cleanup_requested_at;
