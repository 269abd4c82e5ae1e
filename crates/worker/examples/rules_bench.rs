//! Rules benchmark (`bench/rules.sh` runs it per backend; `just bench` runs that):
//!
//! 1. **A full evaluation** of a large directory (default 100,000 users in 100 groups)
//!    against 20 rules (group, department, office and job-title conditions, each with a
//!    pool of its own), provisioning excluded (the pools' numbers are on no platform, so
//!    no job is written): the first run, which assigns a number to every matched user,
//!    and then the steady-state run over the same directory, which decides for everyone
//!    and changes nothing (what the schedule setting runs).
//! 2. **Joiner latency**: with a 1 s delta sync interval, the time from a user being added
//!    to a group in the Graph simulator to that user's number being provisioned in
//!    (simulated) Teams, through `Worker::run` exactly as `telestate worker` runs it:
//!    delta sync → rule run → provisioning job → `assignNumber` → provisioned.
//!
//! Usage: `rules_bench --db URL [--users N] [--joiners N]`. The database must be fresh
//! (migrations are applied here). Progress goes to stderr, one summary table to stdout.
//! Figures are measured, never asserted: a run that goes wrong stops with the reason.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use domain::{
    NumberBlock, NumberType, Permit, PhoneNumber, Source, Tag,
    rules::{ActionDraft, ConditionDraft, PoolDraft, PredicateDraft, PredicateValue, RuleDraft},
};
use graph_sim::{SimConfig, SimNumber, SimUser, Simulator};
use store::{
    Db,
    directory::{DirectoryUserInput, GroupInput},
    rules::runs,
    secrets::SecretKey,
};
use worker::{Config, Metrics, Worker};

/// Rules in the full evaluation.
const RULES: usize = 20;
/// Groups in the large directory.
const GROUPS: usize = 100;
/// First number of the full evaluation's pools: one block per rule.
const POOLS_START: u64 = 442070000000;
/// First number of the joiner pool.
const JOINERS_START: u64 = 442079000000;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> anyhow::Result<T> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}: not a valid value")),
        None => Ok(default),
    }
}

fn permit() -> Permit {
    Permit::system("rules_bench", Source::Api)
}

async fn on_db<T: Send + 'static>(
    db: &Db,
    f: impl FnOnce(&Db) -> store::StoreResult<T> + Send + 'static,
) -> anyhow::Result<T> {
    let db = db.clone();
    Ok(tokio::task::spawn_blocking(move || f(&db)).await??)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    actix_web::rt::System::new().block_on(bench_main(&args))
}

fn predicate(attribute: &str, op: &str, value: PredicateValue) -> PredicateDraft {
    PredicateDraft {
        attribute: attribute.into(),
        op: op.into(),
        value,
    }
}

/// Rule k of the full evaluation: a mix of the condition kinds people write, each with a
/// range of its own as pool. Together they match about half of the directory.
fn bench_rule(k: usize, range_id: i64) -> RuleDraft {
    let one = |v: String| PredicateValue::One(v);
    let condition = match k % 4 {
        0 => ConditionDraft {
            all: Some(vec![predicate(
                "group",
                "equals",
                one(format!("Bench group {:03}", k)),
            )]),
            any: None,
        },
        1 => ConditionDraft {
            all: Some(vec![
                predicate(
                    "department",
                    "in",
                    PredicateValue::List(vec![
                        format!("Department {:02}", k),
                        format!("department {:02}", k + 20),
                    ]),
                ),
                predicate("account_enabled", "equals", one("true".into())),
            ]),
            any: None,
        },
        2 => ConditionDraft {
            all: None,
            any: Some(vec![
                predicate("office_location", "equals", one(format!("Office {:02}", k))),
                predicate("job_title", "starts_with", one(format!("Title {:02}", k))),
            ]),
        },
        _ => ConditionDraft {
            all: Some(vec![
                predicate("upn_domain", "equals", one("contoso.example".into())),
                predicate("group", "contains", one(format!("group {:03}", k))),
            ]),
            any: None,
        },
    };
    RuleDraft {
        name: format!("Bench rule {k:02}"),
        priority: k as i64 * 10,
        enabled: true,
        condition,
        action: ActionDraft {
            pool: PoolDraft {
                range_id: Some(range_id.to_string()),
                ..Default::default()
            },
            assignment_category: None,
        },
        leaver_policy: "unassign".into(),
    }
}

/// The i-th user of the large directory.
fn bench_user(i: usize) -> DirectoryUserInput {
    DirectoryUserInput {
        id: format!("00000000-0000-4000-8000-{i:012}"),
        upn: format!("user{i:06}@contoso.example"),
        display_name: format!("Bench User {i:06}"),
        mail: None,
        department: Some(format!("Department {:02}", i % 40)),
        job_title: Some(format!("Title {:02}", i % 25)),
        office_location: Some(format!("Office {:02}", i % 30)),
        usage_location: Some("GB".into()),
        city: Some("London".into()),
        country: Some("United Kingdom".into()),
        account_enabled: true,
    }
}

fn range(db: &Db, start: u64, size: u64, tag: &str, platform: Option<i64>) -> anyhow::Result<i64> {
    let first = PhoneNumber::parse(&format!("+{start}"))?;
    let last = PhoneNumber::parse(&format!("+{}", start + size - 1))?;
    let new = store::ranges::NewRange {
        name: Some(tag.into()),
        block: NumberBlock::new(first, last, 1_000_000)?,
        location_id: None,
        tags: vec![Tag::parse(tag)?],
        description: String::new(),
        platform_id: platform,
        number_type: platform.map(|_| NumberType::DirectRouting),
    };
    Ok(db.write(|c| store::ranges::create(c, &permit(), new))?.id)
}

async fn bench_main(args: &[String]) -> anyhow::Result<()> {
    let url: String = arg(args, "--db", String::new())?;
    ensure!(
        !url.is_empty(),
        "usage: rules_bench --db URL [--users N] [--joiners N] (see the file's docs)"
    );
    let users: usize = arg(args, "--users", 100_000)?;
    let joiners: usize = arg(args, "--joiners", 10)?;
    let backend = if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let db = Db::connect(&url, 16)?;
    db.migrate()?;

    // --- 1. full evaluation -----------------------------------------------------------
    let started = Instant::now();
    let rule_ids = {
        on_db(&db, move |db| {
            let platform = db.write(|c| {
                let sealer = store::settings::sealer(c, &SecretKey::insecure_default())?;
                store::platforms::create(
                    c,
                    &permit(),
                    &sealer,
                    store::platforms::NewPlatform {
                        name: "Bench directory".into(),
                        kind: "teams".into(),
                        tenant_id: Some("contoso.onmicrosoft.com".into()),
                        client_id: Some("7a8b9c0d-1e2f-4a3b-9c5d-6e7f8a9b0c1d".into()),
                        client_secret_env: Some("RULES_BENCH_UNUSED".into()),
                        ..Default::default()
                    },
                )
            })?;
            let all: Vec<DirectoryUserInput> = (0..users).map(bench_user).collect();
            for chunk in all.chunks(5000) {
                let chunk = chunk.to_vec();
                db.write(|c| store::sync::upsert_users(c, &permit(), platform.id, chunk))?;
            }
            db.write(|c| {
                store::sync::upsert_groups(
                    c,
                    &permit(),
                    platform.id,
                    (0..GROUPS)
                        .map(|g| GroupInput {
                            id: format!("group-{g:03}"),
                            display_name: format!("Bench group {g:03}"),
                            ..Default::default()
                        })
                        .collect(),
                )?;
                for g in 0..GROUPS {
                    let members: Vec<String> = (0..users)
                        .filter(|i| i % GROUPS == g)
                        .map(|i| bench_user(i).id)
                        .collect();
                    store::directory::set_group_members(
                        c,
                        &permit(),
                        &format!("group-{g:03}"),
                        &members,
                    )?;
                }
                Ok(())
            })?;
            // Every pool has room for every user it could match.
            let size = (users as u64 / 8).max(50);
            let mut rules = Vec::new();
            for k in 0..RULES {
                let start = POOLS_START + k as u64 * 100_000;
                let id = range(db, start, size, &format!("pool-{k:02}"), None)
                    .map_err(|e| store::StoreError::Internal(format!("{e:#}")))?;
                let rule = db.write(|c| store::rules::create(c, &permit(), &bench_rule(k, id)))?;
                rules.push(rule.id);
            }
            // The directory is loaded: nothing is pending for a delta run.
            db.write(|c| {
                let pending = runs::pending(c)?;
                runs::forget(c, &pending)
            })?;
            Ok(rules)
        })
        .await?
    };
    eprintln!(
        "{users} users in {GROUPS} groups, {} rules with their pools, set up in {:.1} s",
        rule_ids.len(),
        started.elapsed().as_secs_f64()
    );

    let w = Worker::new(
        db.clone(),
        SecretKey::insecure_default(),
        Config::new("rules-bench"),
        Arc::new(Metrics::default()),
    )?;
    let first = full_run(&db, &w).await?;
    eprintln!(
        "first full run: {} users, {} assigned, {} skipped, {} errors in {:.2} s",
        first.1.users_evaluated, first.1.assigned, first.1.skipped, first.1.errors, first.0
    );
    ensure!(first.1.errors == 0, "the first run had errors");
    let steady = full_run(&db, &w).await?;
    eprintln!(
        "steady full run: {} users, {} assigned, {} unassigned in {:.2} s",
        steady.1.users_evaluated, steady.1.assigned, steady.1.unassigned, steady.0
    );
    ensure!(
        steady.1.assigned == 0 && steady.1.unassigned == 0,
        "a second run over the same directory changed something"
    );

    // --- 2. joiner latency ------------------------------------------------------------
    let latencies = joiner_latency(&db, joiners).await?;
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let p50 = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];

    println!(
        "backend, users, rules, first_run_s, first_run_assigned, full_eval_s, joiner_p50_s, joiner_max_s"
    );
    println!(
        "{backend}, {}, {}, {:.2}, {}, {:.2}, {:.2}, {:.2}",
        steady.1.users_evaluated,
        rule_ids.len(),
        first.0,
        first.1.assigned,
        steady.0,
        p50,
        max
    );
    Ok(())
}

/// Queues a manual full run, carries it out on this worker, and returns its wall time
/// and report.
async fn full_run(db: &Db, w: &Arc<Worker>) -> anyhow::Result<(f64, runs::RuleRun)> {
    let started = Instant::now();
    let run = on_db(db, |db| {
        db.write(|c| {
            runs::request(c, &permit())?;
            runs::claim(c, "rules-bench", Duration::from_secs(600))
        })
    })
    .await?
    .context("the queued run was not claimed")?;
    let id = run.id;
    worker::rules::full(w, run).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let detail = on_db(db, move |db| {
        db.read(|c| runs::get(c, &domain::Scope::unrestricted(), id))
    })
    .await?;
    Ok((elapsed, detail.run))
}

/// Runs a worker (1 s delta syncs) against the Graph simulator and times `joiners`
/// users, one at a time, from being added to the Sales group to their number being
/// provisioned in Teams.
async fn joiner_latency(db: &Db, joiners: usize) -> anyhow::Result<Vec<f64>> {
    let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0").await?;
    let tenant = sim.tenant();
    let sales = tenant.add_group("Sales", None);
    let ids: Vec<String> = (0..joiners.max(1))
        .map(|i| {
            tenant.add_user(SimUser {
                user_principal_name: format!("joiner{i:03}@contoso.example"),
                display_name: format!("Joiner {i:03}"),
                account_enabled: true,
                ..SimUser::default()
            })
        })
        .collect();
    tenant.add_numbers((0..joiners.max(1) as u64 * 2).map(|i| SimNumber {
        telephone_number: format!("+{}", JOINERS_START + i),
        number_type: "directRouting".into(),
        capabilities: vec!["userAssignment".into()],
        ..Default::default()
    }));
    let (graph_url, login_url) = (sim.graph_base_url(), sim.login_base_url());
    let platform = on_db(db, move |db| {
        db.write(|c| {
            let sealer = store::settings::sealer(c, &SecretKey::insecure_default())?;
            store::platforms::create(
                c,
                &permit(),
                &sealer,
                store::platforms::NewPlatform {
                    name: "Bench Teams".into(),
                    kind: "teams".into(),
                    tenant_id: Some(SimConfig::default().tenant_id),
                    client_id: Some(SimConfig::default().client_id),
                    client_secret: Some(SimConfig::default().client_secret),
                    graph_base_url: Some(graph_url),
                    login_base_url: Some(login_url),
                    sync_interval_seconds: Some(1),
                    ..Default::default()
                },
            )
        })
    })
    .await?
    .id;
    let mut config = Config::new("rules-bench-worker");
    config.poll = Duration::from_millis(250);
    let w = Worker::new(
        db.clone(),
        SecretKey::insecure_default(),
        config,
        Arc::new(Metrics::default()),
    )?;
    // The first (full) sync brings the group in; the rule can name it after that.
    worker::sync::sync_platform(&w, platform, "Bench Teams").await?;
    let joiner_numbers = joiners.max(1) as u64 * 2;
    on_db(db, move |db| {
        range(db, JOINERS_START, joiner_numbers, "Sales", Some(platform))
            .map_err(|e| store::StoreError::Internal(format!("{e:#}")))?;
        let rule = RuleDraft {
            name: "Sales joiners".into(),
            priority: 1_000_000,
            enabled: true,
            condition: ConditionDraft {
                all: Some(vec![predicate(
                    "group",
                    "equals",
                    PredicateValue::One("Sales".into()),
                )]),
                any: None,
            },
            action: ActionDraft {
                pool: PoolDraft {
                    tags: vec!["Sales".into()],
                    ..Default::default()
                },
                assignment_category: None,
            },
            leaver_policy: "unassign".into(),
        };
        db.write(|c| store::rules::create(c, &permit(), &rule))
    })
    .await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(w.clone().run(stopped));
    // Let the worker settle: the users just synced are pending and get evaluated first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut out = Vec::new();
    for id in &ids {
        let started = Instant::now();
        tenant.add_member(&sales, id);
        let user = id.clone();
        loop {
            let u = user.clone();
            let provisioned = on_db(db, move |db| {
                db.read(|c| {
                    let user = store::directory::get_user(c, &domain::Scope::unrestricted(), &u)?;
                    let Some(number) = user.numbers.first() else {
                        return Ok(false);
                    };
                    let n = store::numbers::get(c, &domain::Scope::unrestricted(), number)?;
                    Ok(n.assignment.is_some_and(|a| {
                        a.provisioning_state == domain::ProvisioningState::Provisioned
                    }))
                })
            })
            .await?;
            if provisioned {
                break;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(60),
                "a joiner was not provisioned within a minute"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let s = started.elapsed().as_secs_f64();
        eprintln!("joiner provisioned {s:.2} s after joining");
        out.push(s);
    }
    let _ = stop.send(true);
    let _ = task.await;
    Ok(out)
}
