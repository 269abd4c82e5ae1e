//! One module per resource; each handler is extract → authorize → store → wire.

pub mod admins;
pub mod audit;
pub mod auth;
pub mod directory;
pub mod events;
pub mod export;
pub mod health;
pub mod imports;
pub mod lifecycle;
pub mod locations;
pub mod numbers;
pub mod platforms;
pub mod provisioning;
pub mod ranges;
pub mod rules;
pub mod services;
pub mod stats;
pub mod tokens;
