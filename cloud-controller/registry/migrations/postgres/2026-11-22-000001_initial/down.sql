DROP TABLE members;
DROP TABLE subscriptions;
DROP TABLE clusters;
DROP TABLE users;
DROP TABLE tenants;
DROP TABLE definitions;
