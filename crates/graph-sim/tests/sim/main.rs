//! The simulator over real HTTP: every test starts its own on 127.0.0.1:0.

mod admin;
mod auth;
mod common;
mod directory;
mod faults;
mod scale;
mod teams;
