DROP TABLE controller_reports;
ALTER TABLE members DROP COLUMN action_token;
DROP TABLE leader_lease;
