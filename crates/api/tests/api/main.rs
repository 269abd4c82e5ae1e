//! Telestate's API tests: the whole app over a real database (SQLite by default, PostgreSQL
//! when `TEST_DATABASE_URL=postgres://…` is set), driven through actix's test service.

mod assign;
mod audit;
mod audit_trail;
mod browser;
mod common;
mod events;
mod export;
mod governance;
mod hardening;
mod idempotency;
mod import_cells;
mod imports;
mod logins;
mod numbers;
mod openapi;
mod owner_only;
mod platforms;
mod provisioning;
mod ranges;
mod rbac;
mod rules;
mod scope;
mod sessions;
mod validation;
mod webapp;
