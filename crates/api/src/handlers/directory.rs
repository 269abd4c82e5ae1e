//! The directory synced from Entra ID: users and groups, read-only.

use actix_web::{HttpResponse, get, web};
use api_types::{GroupList, GroupQuery, UserList, UserQuery};
use store::directory::UserFilter;

use crate::{
    AppState,
    auth::{Authorized, Read},
    convert,
    error::ApiError,
    query::Query,
};

/// A stored directory user on the wire.
pub fn user_out(u: store::directory::DirectoryUser) -> api_types::DirectoryUser {
    api_types::DirectoryUser {
        id: u.id,
        upn: u.upn,
        display_name: u.display_name,
        mail: u.mail,
        department: u.department,
        job_title: u.job_title,
        office_location: u.office_location,
        usage_location: u.usage_location,
        city: u.city,
        country: u.country,
        account_enabled: u.account_enabled,
        deleted: u.deleted,
        groups: u
            .groups
            .into_iter()
            .map(|g| api_types::GroupRef {
                id: g.id,
                display_name: g.display_name,
            })
            .collect(),
        numbers: u.numbers,
        last_synced_at: convert::utc(u.last_synced_at),
    }
}

/// A stored group on the wire.
pub fn group_out(g: store::directory::GroupSummary) -> api_types::Group {
    api_types::Group {
        id: g.group.id,
        display_name: g.group.display_name,
        mail: g.group.mail,
        description: g.group.description,
        member_count: g.member_count,
        last_synced_at: convert::utc(g.group.last_synced_at),
    }
}

/// Lists directory users by UPN, with their groups and numbers.
#[utoipa::path(tag = "directory", params(UserQuery), responses((status = 200, description = "A page of directory users", body = UserList)))]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<UserQuery>,
) -> Result<web::Json<UserList>, ApiError> {
    let q = query.into_inner()?;
    let filter = UserFilter {
        q: q.q,
        department: q.department,
        group: q.group,
        location: q.location,
        has_number: q.has_number,
        include_deleted: q.include_deleted.unwrap_or(false),
    };
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| {
            store::directory::list_users(c, &scope, &filter, q.cursor.as_deref(), q.limit)
        })
        .await?;
    Ok(web::Json(UserList {
        items: page.items.into_iter().map(user_out).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One directory user by Entra object id (deleted users too, flagged).
#[utoipa::path(tag = "directory", params(("id" = String, Path, description = "Entra object id")), responses((status = 200, description = "The user", body = api_types::DirectoryUser)))]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let scope = auth.permit.scope().clone();
    let u = state
        .read(move |c| store::directory::get_user(c, &scope, &id))
        .await?;
    Ok(HttpResponse::Ok().json(user_out(u)))
}

/// Lists directory groups by name, with member counts.
#[utoipa::path(tag = "directory", params(GroupQuery), responses((status = 200, description = "A page of groups", body = GroupList)))]
#[get("/groups")]
pub async fn list_groups(
    state: web::Data<AppState>,
    _auth: Authorized<Read>,
    query: Query<GroupQuery>,
) -> Result<web::Json<GroupList>, ApiError> {
    let q = query.into_inner()?;
    let page = state
        .read(move |c| {
            store::directory::list_groups(c, q.q.as_deref(), q.cursor.as_deref(), q.limit)
        })
        .await?;
    Ok(web::Json(GroupList {
        items: page.items.into_iter().map(group_out).collect(),
        next_cursor: page.next_cursor,
    }))
}
