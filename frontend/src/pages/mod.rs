//! One module per screen (or family of small screens).

pub mod actions;
pub mod admin;
pub mod audit;
pub mod dashboard;
pub mod estate;
pub mod import;
pub mod number;
pub mod numbers;
pub mod ops;
pub mod rules;
