//! Telestate's API tests: the whole app over a real database (SQLite by default, PostgreSQL
//! when `TEST_DATABASE_URL=postgres://…` is set), driven through actix's test service.

mod audit;
mod common;
mod events;
mod export;
mod governance;
mod hardening;
mod imports;
mod numbers;
mod openapi;
mod ranges;
mod rbac;
mod validation;
