//! A Microsoft Graph simulator: the documented contract over an in-memory tenant, an admin
//! API for tests, and fault injection.
