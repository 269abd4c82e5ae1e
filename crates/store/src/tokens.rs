//! API tokens for integrations: random secrets shown once, stored as SHA-256 hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::{Actor, ActorKind, Permit, Principal, Role, Scope};
use serde::Serialize;

use crate::{
    Conn, StoreError, StoreResult,
    admins::check_scope,
    audit::{self, Change},
    page::{self, Page},
    schema::api_tokens,
    secrets,
};

/// How stale `last_used_at` may get before a request refreshes it; keeps reads read-only.
const LAST_USED_GRANULARITY_SECONDS: i64 = 60;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    role: String,
    scope_locations: String,
    scope_tags: String,
    expires_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
    created_by: String,
    last_used_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

/// A token's record (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    /// Row id, exposed as a string.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// The secret's first characters, to recognise it.
    pub prefix: String,
    /// The grant's level.
    pub role: Role,
    /// Location ids of the scope.
    pub scope_locations: Vec<String>,
    /// Tag keys of the scope.
    pub scope_tags: Vec<String>,
    /// When it stops working.
    #[serde(serialize_with = "crate::utc::ser_opt")]
    pub expires_at: Option<NaiveDateTime>,
    /// When it was revoked.
    #[serde(serialize_with = "crate::utc::ser_opt")]
    pub revoked_at: Option<NaiveDateTime>,
    /// Who created it.
    pub created_by: String,
    /// Roughly when it was last used (to the minute).
    #[serde(serialize_with = "crate::utc::ser_opt")]
    pub last_used_at: Option<NaiveDateTime>,
    /// When it was created.
    #[serde(serialize_with = "crate::utc::ser")]
    pub created_at: NaiveDateTime,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> StoreResult<ApiToken> {
        Ok(ApiToken {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            role: crate::error::stored("api_tokens.role", &r.role)?,
            scope_locations: serde_json::from_str(&r.scope_locations).unwrap_or_default(),
            scope_tags: serde_json::from_str(&r.scope_tags).unwrap_or_default(),
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            created_by: r.created_by,
            last_used_at: r.last_used_at,
            created_at: r.created_at,
        })
    }
}

impl ApiToken {
    /// The principal this token acts as.
    pub fn principal(&self) -> StoreResult<Principal> {
        Ok(Principal {
            actor: Actor {
                kind: ActorKind::Token,
                id: self.id.to_string(),
                name: self.name.clone(),
            },
            role: self.role,
            scope: Scope {
                locations: self.scope_locations.clone(),
                tags: self.scope_tags.clone(),
            },
        })
    }
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// What it is for (1–100 characters).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Location ids of its scope.
    pub scope_locations: Vec<String>,
    /// Tags of its scope.
    pub scope_tags: Vec<String>,
    /// When it stops working; must be in the future.
    pub expires_at: Option<NaiveDateTime>,
}

/// Creates a token and returns its record and the secret (the only time it is shown).
pub fn create(conn: &mut Conn, permit: &Permit, new: NewToken) -> StoreResult<(ApiToken, String)> {
    if permit.role() != Role::Owner {
        return Err(StoreError::Forbidden {
            code: "forbidden",
            message: "only owners manage API tokens".into(),
        });
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(StoreError::invalid(
            "invalid_name",
            "name",
            "must be 1-100 characters",
        ));
    }
    if new.expires_at.is_some_and(|e| e <= crate::now()) {
        return Err(StoreError::invalid(
            "invalid_expiry",
            "expires_at",
            "must be in the future",
        ));
    }
    let scope = check_scope(conn, new.role, &new.scope_locations, &new.scope_tags)?;
    let secret = secrets::new_token();
    let hash = secrets::token_hash(&secret);
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(&hash),
            api_tokens::prefix.eq(&secret[..12]),
            api_tokens::role.eq(new.role.as_str()),
            api_tokens::scope_locations
                .eq(serde_json::to_string(&scope.locations).unwrap_or_default()),
            api_tokens::scope_tags.eq(serde_json::to_string(&scope.tags).unwrap_or_default()),
            api_tokens::expires_at.eq(new.expires_at),
            api_tokens::created_by.eq(&permit.actor().name),
            api_tokens::created_at.eq(crate::now()),
        ))
        .execute(conn)?;
    let row: TokenRow = api_tokens::table
        .filter(api_tokens::token_hash.eq(&hash))
        .select(TokenRow::as_select())
        .first(conn)?;
    let token = ApiToken::try_from(row)?;
    let eid = token.id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "api_token.create",
            entity_kind: "api_token",
            entity_id: &eid,
            before: None,
            after: audit::snapshot(&token),
        },
    )?;
    Ok((token, secret))
}

/// Tokens ordered by id, revoked ones included.
pub fn list(
    conn: &mut Conn,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<ApiToken>> {
    let limit = page::limit(limit)?;
    let mut q = api_tokens::table
        .select(TokenRow::as_select())
        .order(api_tokens::id.asc())
        .into_boxed();
    if let Some(c) = cursor {
        q = q.filter(api_tokens::id.gt(page::decode_id(c)?));
    }
    let rows = q
        .limit(limit + 1)
        .load(conn)?
        .into_iter()
        .map(ApiToken::try_from)
        .collect::<StoreResult<Vec<ApiToken>>>()?;
    Ok(page::finish(rows, limit, |t| t.id.to_string()))
}

/// Revokes a token; it stops working at once and stays listed for the record.
pub fn revoke(conn: &mut Conn, permit: &Permit, id: i64) -> StoreResult<ApiToken> {
    if permit.role() != Role::Owner {
        return Err(StoreError::Forbidden {
            code: "forbidden",
            message: "only owners manage API tokens".into(),
        });
    }
    let before: ApiToken = api_tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?
        .map(ApiToken::try_from)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("api_token", id))?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::revoked_at.eq(Some(crate::now())))
        .execute(conn)?;
    let after: ApiToken = api_tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .map_err(StoreError::from)
        .and_then(ApiToken::try_from)?;
    let eid = id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "api_token.revoke",
            entity_kind: "api_token",
            entity_id: &eid,
            before: audit::snapshot(&before),
            after: audit::snapshot(&after),
        },
    )?;
    Ok(after)
}

/// The live token with this secret (not revoked, not expired), if any. Also says whether
/// `last_used_at` is due for a refresh, so the caller can do that write only now and then.
pub fn authenticate(conn: &mut Conn, secret: &str) -> StoreResult<Option<(ApiToken, bool)>> {
    let hash = secrets::token_hash(secret);
    let now = crate::now();
    let row: Option<TokenRow> = api_tokens::table
        .filter(api_tokens::token_hash.eq(hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row
        .map(ApiToken::try_from)
        .transpose()?
        .filter(|t| t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now))
        .map(|t| {
            let due = t
                .last_used_at
                .is_none_or(|u| (now - u).num_seconds() >= LAST_USED_GRANULARITY_SECONDS);
            (t, due)
        }))
}

/// Whether the token with this id still works (exists, not revoked, not expired); an
/// open event stream asks this again when tokens change.
pub fn is_live(conn: &mut Conn, id: i64) -> StoreResult<bool> {
    let now = crate::now();
    let row: Option<(Option<NaiveDateTime>, Option<NaiveDateTime>)> = api_tokens::table
        .find(id)
        .select((api_tokens::revoked_at, api_tokens::expires_at))
        .first(conn)
        .optional()?;
    Ok(row.is_some_and(|(revoked, expires)| revoked.is_none() && expires.is_none_or(|e| e > now)))
}

/// Records that a token was used just now.
pub fn touch(conn: &mut Conn, id: i64) -> StoreResult<()> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::last_used_at.eq(Some(crate::now())))
        .execute(conn)?;
    Ok(())
}
