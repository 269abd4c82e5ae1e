//! Tags with counts, and the dashboard's counts.

use actix_web::{get, web};
use api_types::{DailyAssignments, Stats, StatsGroup, StatsQuery, TagList, TagUsage};

use crate::{
    AppState,
    auth::{Authorized, Read},
    convert,
    error::ApiError,
    query::Query,
};

/// Every tag in use with how many numbers (in scope) and ranges carry it.
#[utoipa::path(tag = "tags", responses((status = 200, description = "Tags", body = TagList)))]
#[get("/tags")]
pub async fn list_tags(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
) -> Result<web::Json<TagList>, ApiError> {
    let scope = auth.permit.scope().clone();
    let tags = state
        .read(move |c| store::stats::tag_usage(c, &scope))
        .await?;
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

/// Counts by status, location, range and tag, within the caller's scope; for each group
/// and in total, the assignments of the last 30 days, their rate per day and the days
/// until the available numbers run out at that rate; and the assignments of each of the
/// last `days` days (1–366, default 30; outside that, 400 `invalid_query` naming `days`).
#[utoipa::path(tag = "stats", params(StatsQuery), responses((status = 200, description = "Counts", body = Stats)))]
#[get("/stats")]
pub async fn get_stats(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<StatsQuery>,
) -> Result<web::Json<Stats>, ApiError> {
    let StatsQuery { days } = query.into_inner()?;
    let scope = auth.permit.scope().clone();
    let s = state
        .read(move |c| store::stats::compute(c, &scope, days))
        .await?;
    let group = |g: store::stats::Group| StatsGroup {
        id: g.id,
        name: g.name,
        counts: convert::utilisation(g.counts),
        assignments_last_30_days: g.forecast.assignments_last_30_days,
        assignments_per_day: g.forecast.assignments_per_day,
        days_until_exhausted: g.forecast.days_until_exhausted,
    };
    Ok(web::Json(Stats {
        totals: convert::utilisation(s.totals),
        by_location: s.by_location.into_iter().map(group).collect(),
        by_range: s.by_range.into_iter().map(group).collect(),
        by_tag: s.by_tag.into_iter().map(group).collect(),
        assignments_last_30_days: s.forecast.assignments_last_30_days,
        assignments_per_day: s.forecast.assignments_per_day,
        days_until_exhausted: s.forecast.days_until_exhausted,
        daily: s
            .daily
            .into_iter()
            .map(|d| DailyAssignments {
                day: d.day,
                assignments: d.assignments,
            })
            .collect(),
    }))
}
