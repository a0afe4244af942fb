-- The privileges of the app's PostgreSQL role, "anju_app", which serves requests and runs the
-- bridge. Tables belong to another role, "anju_owner", which runs `anju migrate` and nothing else;
-- run this as anju_owner after every `anju migrate` (new tables need their grants).
--
--   CREATE ROLE anju_owner LOGIN PASSWORD '…';  CREATE DATABASE anju OWNER anju_owner;
--   CREATE ROLE anju_app LOGIN PASSWORD '…';
--
-- The app reads and writes the domain tables but may only append to the audit trail: no UPDATE,
-- DELETE or TRUNCATE on audit_entry, and, not owning it, no ALTER (so it cannot drop or disable
-- the migration's append-only trigger, which refuses UPDATE and DELETE even to the owner).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO anju_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO anju_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO anju_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry FROM anju_app;
REVOKE ALL ON migration FROM anju_app;
