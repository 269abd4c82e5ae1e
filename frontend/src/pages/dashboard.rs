//! The dashboard: the estate by status, utilisation per site and range with the days until
//! each runs out, assignments per day over the last [`CHART_DAYS`] days, and the latest
//! changes — all from `GET /stats?days=90`, reloaded (at most twice a second) whenever the
//! live feed reports a change.

use api_types::{Stats, StatsGroup, Utilisation};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::live::live;
use crate::pages::actions::gloo_sleep;
use crate::ui::{ErrorBox, Load, fixed, fmt_int};

/// Days of assignments the chart shows (the server's `days`; the rates stay on 30).
const CHART_DAYS: usize = 90;

/// The dashboard (`/`).
#[component]
pub fn Dashboard() -> impl IntoView {
    let live = live();
    let stats = RwSignal::new(Load::<Stats>::Loading);
    // Events can come in bursts (an import): coalesce them into one reload per 500 ms.
    let busy = StoredValue::new(false);
    let again = StoredValue::new(false);
    fn reload(stats: RwSignal<Load<Stats>>, busy: StoredValue<bool>, again: StoredValue<bool>) {
        if busy.get_value() {
            again.set_value(true);
            return;
        }
        busy.set_value(true);
        leptos::task::spawn_local(async move {
            loop {
                again.set_value(false);
                let path = api::with_query(
                    "/api/v1/stats",
                    &api_types::StatsQuery {
                        days: Some(CHART_DAYS as i64),
                    },
                );
                match api::get::<Stats>(&path).await {
                    Ok(s) => stats.set(Load::Ready(s)),
                    Err(e) => {
                        if !matches!(stats.get_untracked(), Load::Ready(_)) {
                            stats.set(Load::Failed(e))
                        }
                    }
                }
                gloo_sleep(500).await;
                // `try_`: the dashboard may have been left during the pause.
                if !again.try_get_value().unwrap_or(false) {
                    break;
                }
            }
            busy.set_value(false);
        });
    }
    Effect::new(move |_| {
        live.tick.track();
        reload(stats, busy, again);
    });
    view! {
        <div class="page-head">
            <h1>"Dashboard"</h1>
            <span class="spacer"></span>
            <A href="/numbers?status=available" attr:class="btn btn-primary">"Find a free number"</A>
        </div>
        {move || match stats.get() {
            Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
            Load::Loading => view! { <Cards t=None/><div class="panel"><crate::ui::Loading/></div> }.into_any(),
            Load::Ready(s) => view! { <Body s=s/> }.into_any(),
        }}
    }
}

#[component]
fn Cards(t: Option<Utilisation>) -> impl IntoView {
    let v = |f: fn(&Utilisation) -> i64| {
        t.as_ref()
            .map(|t| fmt_int(f(t)))
            .unwrap_or_else(|| "—".into())
    };
    let pct = |f: fn(&Utilisation) -> i64| {
        t.as_ref()
            .filter(|t| t.total > 0)
            .map(|t| {
                format!(
                    "{}% of {}",
                    fixed(f(t) as f64 * 100.0 / t.total as f64, 1),
                    fmt_int(t.total)
                )
            })
            .unwrap_or_default()
    };
    view! {
        <div class="grid grid-4" data-testid="totals">
            <a class="panel stat" href="/numbers?status=assigned"><div class="label"><span class="swatch sw-assigned"></span>"Assigned"</div>
                <div class="value" data-testid="count-assigned">{v(|t| t.assigned)}</div><div class="hint">{pct(|t| t.assigned)}</div></a>
            <a class="panel stat" href="/numbers?status=available"><div class="label"><span class="swatch sw-available"></span>"Available"</div>
                <div class="value" data-testid="count-available">{v(|t| t.available)}</div><div class="hint">{pct(|t| t.available)}</div></a>
            <a class="panel stat" href="/numbers?status=reserved"><div class="label"><span class="swatch sw-reserved"></span>"Reserved"</div>
                <div class="value" data-testid="count-reserved">{v(|t| t.reserved)}</div><div class="hint">{pct(|t| t.reserved)}</div></a>
            <a class="panel stat" href="/numbers?status=quarantined"><div class="label"><span class="swatch sw-quarantined"></span>"Quarantined"</div>
                <div class="value" data-testid="count-quarantined">{v(|t| t.quarantined)}</div><div class="hint">{pct(|t| t.quarantined)}</div></a>
        </div>
    }
}

#[component]
fn Body(s: Stats) -> impl IntoView {
    let live = live();
    let runway = match s.days_until_exhausted {
        Some(d) => format!(
            "{} assignments a day over 30 days; the free numbers last about {} days at that rate.",
            fixed(s.assignments_per_day, 1),
            d.round() as i64
        ),
        None => "No assignments in the last 30 days.".to_string(),
    };
    view! {
        <Cards t=Some(s.totals.clone())/>
        <div class="grid grid-3-1 panel-gap">
            <div class="panel">
                <h2>{format!("Assignments per day, last {} days", s.daily.len())}</h2>
                <p class="subtle">{runway}</p>
                <Chart daily=s.daily.iter().map(|d| (crate::ui::fmt_day_month(&d.day), d.assignments)).collect()/>
            </div>
            <div class="panel">
                <h2>"Latest changes"</h2>
                <ul class="feed" data-testid="feed">
                    {move || {
                        let r = live.recent.get();
                        if r.is_empty() {
                            view! { <li class="muted">"Changes appear here as they happen."</li> }.into_any()
                        } else {
                            r.into_iter().take(12).map(|e| {
                                let link = (e.entity == "number").then(|| format!("/numbers/{}", api::segment(&e.entity_id)));
                                view! { <li>
                                    <span>{e.action.clone()}" "</span>
                                    {match link { Some(h) => view! { <A href=h attr:class="e164">{e.entity_id.clone()}</A> }.into_any(), None => view! { <span>{e.entity_id.clone()}</span> }.into_any() }}
                                    <span class="muted">{e.actor.name.clone()}</span>
                                    <time>{crate::ui::fmt_clock(&e.at)}</time>
                                </li> }
                            }).collect_view().into_any()
                        }
                    }}
                </ul>
            </div>
        </div>
        <div class="panel">
            <h2>"Utilisation by location"</h2>
            <Legend/>
            <UtilTable groups=s.by_location.clone() link="location"/>
        </div>
        <div class="panel">
            <h2>"Utilisation by range"</h2>
            <UtilTable groups=s.by_range.clone() link="range"/>
        </div>
    }
}

#[component]
fn Legend() -> impl IntoView {
    view! {
        <div class="legend">
            <span><span class="swatch sw-assigned"></span>"Assigned"</span>
            <span><span class="swatch sw-reserved"></span>"Reserved"</span>
            <span><span class="swatch sw-quarantined"></span>"Quarantined"</span>
            <span><span class="swatch sw-available"></span>"Available"</span>
        </div>
    }
}

/// One stacked bar per group, drawn in SVG (the CSP allows no style attributes, and SVG
/// geometry attributes are not styles).
#[component]
fn UtilTable(groups: Vec<StatsGroup>, link: &'static str) -> impl IntoView {
    if groups.is_empty() {
        return view! { <crate::ui::Empty text="Nothing to show yet."/> }.into_any();
    }
    view! {
        <div>
            <div class="util-row util-head"><span>"Name"</span><span>"Assigned · reserved · quarantined · available"</span><span class="num">"In use"</span><span class="num">"Runs out in"</span></div>
            {groups.into_iter().map(|g| {
                let c = &g.counts;
                let total = c.total.max(1) as f64;
                let mut x = 0.0;
                let segs: Vec<(f64, f64, &'static str)> = [(c.assigned, "fill-assigned"), (c.reserved, "fill-reserved"), (c.quarantined, "fill-quarantined"), (c.available, "fill-available")]
                    .into_iter()
                    .map(|(n, cls)| { let w = n as f64 * 100.0 / total; let s = (x, w, cls); x += w; s })
                    .collect();
                let used = if c.total > 0 { format!("{}%", fixed((c.total - c.available) as f64 * 100.0 / c.total as f64, 0)) } else { "—".into() };
                let runs_out = match g.days_until_exhausted { Some(d) if d < 3650.0 => format!("{} days", d.round() as i64), Some(_) => "> 10 years".into(), None => "—".into() };
                let href = if g.id.is_empty() { "/numbers".to_string() } else { format!("/numbers?{link}={}", api::segment(&g.id)) };
                let name = if g.name.is_empty() { "(none)".to_string() } else { g.name.clone() };
                let label = format!("{}: {} assigned, {} reserved, {} quarantined, {} available of {}", name, c.assigned, c.reserved, c.quarantined, c.available, c.total);
                let aria = label.clone();
                view! {
                    <div class="util-row">
                        <A href=href>{name}</A>
                        <span class="bar">
                            <svg class="util" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label=aria>
                                <title>{label}</title>
                                {segs.into_iter().map(|(x, w, cls)| view! { <rect x=fixed(x, 2) y="0" width=fixed(w, 2) height="10" class=cls></rect> }).collect_view()}
                            </svg>
                        </span>
                        <span class="num">{used}" of "{fmt_int(c.total)}</span>
                        <span class="num runs">{runs_out}</span>
                    </div>
                }
            }).collect_view()}
        </div>
    }.into_any()
}

/// A bar per day, with the peak marked on the axis. The bars are SVG stretched to the
/// panel's width; the labels are HTML around it, so they keep their size at any width
/// (text inside a stretched SVG is squeezed with it).
#[component]
fn Chart(daily: Vec<(String, i64)>) -> impl IntoView {
    let max = daily.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let total: i64 = daily.iter().map(|d| d.1).sum();
    let days = daily.len();
    let n = days.max(1) as f64;
    let (w, h) = (600.0, 160.0);
    let bw = w / n;
    // Four dates under the bars: the first, two between and the last. Spread evenly, as
    // the bars are, each label sits under (about) its bar.
    let ticks: Vec<String> = if days == 0 {
        Vec::new()
    } else {
        let mut at: Vec<usize> = (0..4).map(|k| k * (days - 1) / 3).collect();
        at.dedup();
        at.into_iter().map(|i| daily[i].0.clone()).collect()
    };
    let label =
        format!("Assignments per day over {days} days: {total} in all, at most {max} a day");
    view! {
        <div class="chart-wrap">
            <div class="chart-peak" aria-hidden="true">{format!("{max} a day")}</div>
            <svg class="chart" viewBox="0 0 600 160" preserveAspectRatio="none" role="img"
                aria-label=label data-testid="chart" data-days=days.to_string()>
                <line class="grid-line" x1="0" x2="600" y1="0.5" y2="0.5" vector-effect="non-scaling-stroke"></line>
                <line class="grid-line" x1="0" x2="600" y1="80" y2="80" vector-effect="non-scaling-stroke"></line>
                <line class="grid-line" x1="0" x2="600" y1="159.5" y2="159.5" vector-effect="non-scaling-stroke"></line>
                {daily.into_iter().enumerate().map(|(i, (day, count))| {
                    let bh = count as f64 / max as f64 * (h - 4.0);
                    view! {
                        <rect class="fill-bar" x=fixed(i as f64 * bw + bw * 0.15, 2) y=fixed(h - bh, 2)
                            width=fixed(bw * 0.7, 2) height=fixed(bh.max(0.0), 2)>
                            <title>{format!("{day}: {count}")}</title>
                        </rect>
                    }
                }).collect_view()}
            </svg>
            <div class="chart-axis" aria-hidden="true">
                {ticks.into_iter().map(|t| view! { <span>{t}</span> }).collect_view()}
            </div>
        </div>
    }
}
