//! The real client against a small HTTP stub serving the documented examples.

mod auth;
mod delta;
mod limits;
mod numbers;
mod stub;
mod throttling;
