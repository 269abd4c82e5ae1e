//! `embed_migrations!` reads the migration trees at compile time, but cargo only tracks the
//! files it was given: a new migration directory would not rebuild the store, and a binary
//! would start without it. Watching the trees (cargo scans a directory recursively) closes
//! that.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
