//! Tags with counts, and the dashboard's counts.

use actix_web::{get, web};
use api_types::{Stats, StatsGroup, TagList, TagUsage};

use crate::{
    AppState,
    auth::{Authorized, Read},
    convert,
    error::ApiError,
};

/// Every tag in use with how many numbers (in scope) and ranges carry it.
#[utoipa::path(tag = "tags", responses((status = 200, description = "Tags", body = TagList)))]
#[get("/tags")]
pub async fn list_tags(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
) -> Result<web::Json<TagList>, ApiError> {
    let scope = auth.permit.scope().clone();
    let tags = state.read(move |c| store::tags::list(c, &scope)).await?;
    Ok(web::Json(TagList {
        items: tags
            .into_iter()
            .map(|t| TagUsage {
                name: t.name,
                numbers: t.numbers,
                ranges: t.ranges,
            })
            .collect(),
        next_cursor: None,
    }))
}

/// Counts by status, location, range and tag, within the caller's scope.
#[utoipa::path(tag = "stats", responses((status = 200, description = "Counts", body = Stats)))]
#[get("/stats")]
pub async fn get_stats(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
) -> Result<web::Json<Stats>, ApiError> {
    let scope = auth.permit.scope().clone();
    let s = state
        .read(move |c| store::stats::compute(c, &scope))
        .await?;
    let group = |g: store::stats::Group| StatsGroup {
        id: g.id,
        name: g.name,
        counts: convert::utilisation(g.counts),
    };
    Ok(web::Json(Stats {
        totals: convert::utilisation(s.totals),
        by_location: s.by_location.into_iter().map(group).collect(),
        by_range: s.by_range.into_iter().map(group).collect(),
        by_tag: s.by_tag.into_iter().map(group).collect(),
    }))
}
