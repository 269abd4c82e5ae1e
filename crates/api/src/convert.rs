//! Between wire types and store/domain types: parsing input (naming the field on
//! failure) and shaping output.

use actix_web::HttpRequest;
use api_types as wire;
use api_types::ErrorCode;
use chrono::{DateTime, NaiveDateTime, Utc};
use domain::{NumberType, PhoneNumber, Tag};
use store::page::Page;

use crate::error::ApiError;

/// Longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// A stored instant as RFC 3339 UTC.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// An object id from a body or query field.
pub fn id(field: &str, value: &str) -> Result<i64, ApiError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                format!("'{value}' is not an id"),
            )
        })
}

/// An optional id field.
pub fn opt_id(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value.map(|v| id(field, v)).transpose()
}

/// An id in the path: one that cannot exist is simply not found.
pub fn path_id(entity: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::NotFound(format!("{entity} '{value}' was not found")))
}

/// A telephone number in any common notation.
pub fn number(field: &str, value: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(value)
        .map_err(|e| ApiError::invalid(ErrorCode::InvalidNumber, field, format!("'{value}' {e}")))
}

/// A tag list.
pub fn tags(field: &str, values: &[String]) -> Result<Vec<Tag>, ApiError> {
    Tag::parse_set(values)
        .map_err(|e| ApiError::invalid(ErrorCode::InvalidField, field, e.to_string()))
}

/// A number type word.
pub fn number_type(field: &str, value: Option<&str>) -> Result<Option<NumberType>, ApiError> {
    value
        .map(|v| {
            v.parse().map_err(|e: domain::ParseEnumError| {
                ApiError::invalid(ErrorCode::InvalidField, field, e.to_string())
            })
        })
        .transpose()
}

/// A description, checked for length.
pub fn description(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        )),
        other => Ok(other),
    }
}

/// The version an `If-Match` header asks for: `"3"`, `W/"3"` or `3`; `*` asks for none.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(raw) = req.headers().get(actix_web::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let digits = text.trim_start_matches("W/").trim_matches('"');
    digits.parse().map(Some).map_err(|_| {
        ApiError::invalid(
            ErrorCode::InvalidField,
            "If-Match",
            format!("'{text}' is not an ETag this server issued"),
        )
    })
}

/// The `ETag` of a versioned object.
pub fn etag(version: i64) -> (actix_web::http::header::HeaderName, String) {
    (actix_web::http::header::ETAG, format!("\"{version}\""))
}

fn id_str(v: Option<i64>) -> Option<String> {
    v.map(|i| i.to_string())
}

/// A stored number on the wire.
pub fn number_out(n: store::numbers::Number) -> wire::Number {
    wire::Number {
        number: n.number,
        base: n.base,
        extension: n.extension,
        country: n.country,
        status: n.status,
        range_id: id_str(n.range_id),
        location_id: id_str(n.location_id),
        tags: n.tags,
        description: n.description,
        platform_id: id_str(n.platform_id),
        number_type: n.number_type,
        reservation: n.reservation.map(|r| wire::Reservation {
            reason: r.reason,
            reserved_for: r.reserved_for,
            reserved_by: r.reserved_by,
            expires_at: r.expires_at.map(utc),
        }),
        quarantine: n.quarantine.map(|q| wire::Quarantine {
            since: utc(q.since),
            until: utc(q.until),
            reason: q.reason,
            previous_assignee: q.previous_assignee,
        }),
        assignment: n.assignment.map(|a| wire::Assignment {
            target: a.target(),
            assigned_at: utc(a.assigned_at),
            assigned_by: a.assigned_by,
            provisioning: wire::Provisioning {
                state: a.provisioning_state,
                error: a.provisioning_error,
            },
        }),
        version: n.version,
        created_at: utc(n.created_at),
        updated_at: utc(n.updated_at),
    }
}

/// A page of numbers on the wire.
pub fn number_list(p: Page<store::numbers::Number>) -> wire::NumberList {
    wire::NumberList {
        items: p.items.into_iter().map(number_out).collect(),
        next_cursor: p.next_cursor,
    }
}

/// Utilisation on the wire.
pub fn utilisation(u: store::ranges::Utilisation) -> wire::Utilisation {
    wire::Utilisation {
        available: u.available,
        reserved: u.reserved,
        assigned: u.assigned,
        quarantined: u.quarantined,
        total: u.total,
    }
}

/// A stored range on the wire.
pub fn range_out(r: store::ranges::Range) -> wire::Range {
    wire::Range {
        id: r.id.to_string(),
        name: r.name,
        start: r.start,
        end: r.end,
        country: r.country,
        size: r.size,
        location_id: id_str(r.location_id),
        tags: r.tags,
        description: r.description,
        platform_id: id_str(r.platform_id),
        number_type: r.number_type,
        utilisation: utilisation(r.utilisation),
        version: r.version,
        created_at: utc(r.created_at),
        updated_at: utc(r.updated_at),
    }
}

/// A stored site on the wire.
pub fn location_out(l: store::locations::Location) -> wire::Location {
    wire::Location {
        id: l.id.to_string(),
        name: l.name,
        country: l.country,
        region: l.region,
        city: l.city,
        address: l.address,
        emergency_location_id: l.emergency_location_id,
        version: l.version,
        created_at: utc(l.created_at),
        updated_at: utc(l.updated_at),
    }
}

/// A stored account on the wire.
pub fn admin_out(a: store::admins::Admin) -> wire::Admin {
    wire::Admin {
        id: a.id.to_string(),
        username: a.username,
        role: a.role,
        scope: wire::ScopeBody {
            locations: a.scope_locations,
            tags: a.scope_tags,
        },
        last_login_at: a.last_login_at.map(utc),
        locked_until: a.locked_until.map(utc),
        created_at: utc(a.created_at),
        updated_at: utc(a.updated_at),
    }
}

/// A stored token record on the wire.
pub fn token_out(t: store::tokens::ApiToken) -> wire::ApiToken {
    wire::ApiToken {
        id: t.id.to_string(),
        name: t.name,
        prefix: t.prefix,
        role: t.role,
        scope: wire::ScopeBody {
            locations: t.scope_locations,
            tags: t.scope_tags,
        },
        expires_at: t.expires_at.map(utc),
        revoked_at: t.revoked_at.map(utc),
        created_by: t.created_by,
        last_used_at: t.last_used_at.map(utc),
        created_at: utc(t.created_at),
    }
}

/// A stored audit record on the wire.
pub fn audit_out(r: store::audit::AuditRow) -> wire::AuditRecord {
    wire::AuditRecord {
        id: r.id.to_string(),
        at: utc(r.at),
        actor: wire::AuditActor {
            kind: r.actor_kind,
            id: r.actor_id,
            name: r.actor_name,
        },
        action: r.action,
        entity: r.entity_kind,
        entity_id: r.entity_id,
        before: r.before_json.and_then(|j| serde_json::from_str(&j).ok()),
        after: r.after_json.and_then(|j| serde_json::from_str(&j).ok()),
        request_id: r.request_id,
        source: r.source,
        change_set_id: r.change_set_id,
    }
}

/// A page of audit records on the wire.
pub fn audit_list(p: Page<store::audit::AuditRow>) -> wire::AuditList {
    wire::AuditList {
        items: p.items.into_iter().map(audit_out).collect(),
        next_cursor: p.next_cursor,
    }
}
