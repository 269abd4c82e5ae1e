//! Microsoft Graph client: OAuth2 client credentials, users and groups (full and delta),
//! and Teams telephone-number management. Knows nothing of the inventory.
