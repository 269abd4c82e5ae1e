//! Teams benchmark (`bench/teams.sh` runs it per backend; `just bench` runs that):
//!
//! 1. the initial directory sync of a large tenant (default 100,000 users in 500 groups)
//!    from the Graph simulator without latency — wall time and the worker side's peak RSS;
//! 2. adopting a large Teams estate (default 100,000 numbers, 90% assigned to the synced
//!    users, half of them already in the inventory as free numbers) with `drift::adopt`,
//!    after a sync lists Teams' numbers — the listing and the adopt timed apart;
//! 3. provisioning jobs per second (`Worker::run`, real jobs written by
//!    `store::lifecycle::apply`) without latency and with 50 ms per Graph call, at the
//!    worker's default concurrency and higher ones.
//!
//! The simulator runs in a child process (this binary re-executed with `--sim`), so the
//! RSS measured here is the worker's alone. The child builds its tenant through `Tenant`
//! methods, prints `ready GRAPH_URL LOGIN_URL`, then takes one command a line on stdin
//! (`numbers START COUNT estate|free`, `latency MS`, `stats`), answering one line each; it
//! exits when its stdin closes, so it cannot outlive this process.
//!
//! Usage: `teams_bench --db URL [--users N] [--groups N] [--numbers N]
//! [--jobs-per-slot N] [--concurrency 8,32] [--latency 0,50]`. The database must be
//! fresh (migrations are applied here). Progress goes to stderr, the two summary tables
//! to stdout. Figures are measured, never asserted: a run that goes wrong stops with the
//! reason instead of printing a table.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use domain::{NumberType, Permit, PhoneNumber, Source};
use graph_sim::{SimConfig, SimNumber, SimUser, Simulator};
use store::{Db, lifecycle::Request, numbers::NewNumber, secrets::SecretKey};
use worker::{Config, Metrics, Worker};

/// Reads a delta round to its end, keeping nothing but the number of changes.
async fn count_changes<T>(mut round: graph::DeltaRound<T>) -> anyhow::Result<usize> {
    let mut changes = 0;
    loop {
        let page = round.next_page().await?;
        changes += page.changes.len();
        if page.delta_link.is_some() {
            return Ok(changes);
        }
    }
}

/// Deterministic Entra object id of the i-th simulated user, so both processes know it.
fn user_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// The i-th number of a block starting at `start` (digits without '+').
fn e164(start: u64, i: usize) -> String {
    format!("+{}", start + i as u64)
}

/// First number of the adopted estate; the London block bench/run.sh uses (all valid).
const ESTATE_START: u64 = 442070000000;
/// First number of the provisioning blocks, one block of 10,000 per scenario.
const JOBS_START: u64 = 442070500000;
/// In the estate, number i is assigned in Teams to user i unless i % 10 == 9 (90%).
fn assigned_in_estate(i: usize) -> bool {
    i % 10 != 9
}

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

fn list(args: &[String], name: &str, default: &str) -> anyhow::Result<Vec<u64>> {
    let raw: String = arg(args, name, default.to_string())?;
    raw.split(',')
        .map(|s| s.trim().parse().with_context(|| format!("{name}: {s:?}")))
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--sim") {
        return sim_main(&args);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench_main(&args))
}

// --- the simulator process ----------------------------------------------------------------

fn sim_main(args: &[String]) -> anyhow::Result<()> {
    let users: usize = arg(args, "--users", 100_000)?;
    let groups: usize = arg(args, "--groups", 500)?;
    actix_web::rt::System::new().block_on(async move {
        let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0").await?;
        let tenant = sim.tenant();
        let started = Instant::now();
        let group_ids: Vec<String> = (0..groups)
            .map(|g| tenant.add_group(&format!("Bench group {g:03}"), Some("teams_bench")))
            .collect();
        for i in 0..users {
            tenant.add_user(SimUser {
                id: Some(user_id(i)),
                user_principal_name: format!("user{i:06}@contoso.example"),
                display_name: format!("Bench User {i:06}"),
                given_name: Some("Bench".into()),
                surname: Some(format!("User {i:06}")),
                mail: Some(format!("user{i:06}@contoso.example")),
                department: Some(format!("Department {:02}", i % 40)),
                job_title: Some(format!("Title {:02}", i % 25)),
                office_location: Some(format!("Office {:02}", i % 30)),
                usage_location: Some("GB".into()),
                city: Some("London".into()),
                country: Some("United Kingdom".into()),
                account_enabled: true,
                ..SimUser::default()
            });
            if !group_ids.is_empty() {
                tenant.add_member(&group_ids[i % groups], &user_id(i));
            }
        }
        eprintln!(
            "sim: {users} users in {groups} groups built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        println!("ready {} {}", sim.graph_base_url(), sim.login_base_url());
        std::io::stdout().flush()?;
        // Commands on a thread of their own: the tenant is a mutex, the server keeps serving.
        let commands = std::thread::spawn(move || -> anyhow::Result<()> {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let line = line?;
                let words: Vec<&str> = line.split_whitespace().collect();
                let answer = match words.as_slice() {
                    ["numbers", start, count, kind] => {
                        let (start, count): (u64, usize) = (start.parse()?, count.parse()?);
                        let estate = *kind == "estate";
                        tenant.add_numbers((0..count).map(|i| SimNumber {
                            telephone_number: e164(start, i),
                            number_type: "directRouting".into(),
                            iso_country_code: Some("GB".into()),
                            assignment_target_id:
                                (estate && assigned_in_estate(i) && i < users).then(|| user_id(i)),
                            ..SimNumber::default()
                        }));
                        format!("ok {count}")
                    }
                    ["latency", ms] => {
                        tenant.set_latency(Duration::from_millis(ms.parse()?));
                        "ok".into()
                    }
                    ["stats"] => {
                        let s = tenant.stats();
                        format!(
                            "stats {} {} {}",
                            s.assign_calls,
                            s.requests.values().sum::<u64>(),
                            s.throttled
                        )
                    }
                    _ => format!("error unknown command {line:?}"),
                };
                println!("{answer}");
                std::io::stdout().flush()?;
            }
            Ok(())
        });
        // Serve until the parent closes our stdin (or dies).
        while !commands.is_finished() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::process::exit(0)
    })
}

/// The simulator child, spoken to over its stdin and stdout.
struct SimProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    graph_base_url: String,
    login_base_url: String,
}

impl SimProcess {
    fn start(users: usize, groups: usize) -> anyhow::Result<SimProcess> {
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "--sim",
                "--users",
                &users.to_string(),
                "--groups",
                &groups.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the simulator process")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["ready", graph, login] = words.as_slice() else {
            bail!("the simulator said {line:?} instead of ready");
        };
        Ok(SimProcess {
            graph_base_url: graph.to_string(),
            login_base_url: login.to_string(),
            child,
            stdin,
            stdout,
        })
    }

    fn ask(&mut self, command: &str) -> anyhow::Result<String> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let line = line.trim().to_string();
        ensure!(
            !line.is_empty() && !line.starts_with("error"),
            "simulator: {command:?} answered {line:?}"
        );
        Ok(line)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- the worker side ----------------------------------------------------------------------

/// Peak resident set of this process (VmHWM) in MB.
fn hwm_mb() -> f64 {
    status_kb("VmHWM:") / 1024.0
}

fn rss_mb() -> f64 {
    status_kb("VmRSS:") / 1024.0
}

fn status_kb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// Resets VmHWM to the current RSS, so the next peak is one step's own.
fn reset_hwm() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("warning: cannot reset VmHWM ({e}); the peak includes the setup");
    }
}

async fn on_db<T: Send + 'static>(
    db: &Db,
    f: impl FnOnce(&Db) -> store::StoreResult<T> + Send + 'static,
) -> anyhow::Result<T> {
    let db = db.clone();
    Ok(tokio::task::spawn_blocking(move || f(&db)).await??)
}

fn permit() -> Permit {
    Permit::system("teams_bench", Source::Api)
}

/// Adds direct-routing numbers on the platform to the inventory, free, in batches.
async fn inventory_numbers(db: &Db, platform: i64, start: u64, count: usize) -> anyhow::Result<()> {
    let mut done = 0;
    while done < count {
        let end = (done + 5000).min(count);
        let items: Vec<NewNumber> = (done..end)
            .map(|i| {
                Ok(NewNumber {
                    number: PhoneNumber::parse(&e164(start, i))
                        .map_err(|e| anyhow::anyhow!("{}: {e:?}", e164(start, i)))?,
                    location_id: None,
                    tags: Vec::new(),
                    description: String::new(),
                    platform_id: Some(platform),
                    number_type: Some(NumberType::DirectRouting),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        on_db(db, move |db| {
            db.write(|c| store::numbers::create_many(c, &permit(), items).map(|_| ()))
        })
        .await?;
        done = end;
    }
    Ok(())
}

/// Jobs per state.
async fn job_counts(db: &Db) -> anyhow::Result<std::collections::HashMap<String, i64>> {
    Ok(on_db(db, |db| db.read(store::jobs::counts))
        .await?
        .into_iter()
        .collect())
}

struct EstateRow {
    sync_s: f64,
    sync_rss_before_mb: f64,
    sync_hwm_mb: f64,
    users_changed: i64,
    groups_changed: i64,
    memberships: i64,
    graph_read_s: f64,
    listed: usize,
    list_sync_s: f64,
    list_http_s: f64,
    list_hwm_mb: f64,
    inventory_fill_s: f64,
    adopt_s: f64,
    adopt_hwm_mb: f64,
    adopted: usize,
    skipped: usize,
    drift_left: usize,
}

struct JobRow {
    latency_ms: u64,
    concurrency: usize,
    jobs: usize,
    assign_s: f64,
    run_s: f64,
    succeeded: i64,
    failed: i64,
    assign_calls: u64,
}

async fn bench_main(args: &[String]) -> anyhow::Result<()> {
    let url: String = arg(args, "--db", String::new())?;
    ensure!(
        !url.is_empty(),
        "usage: teams_bench --db URL [options] (see the file's docs)"
    );
    let users: usize = arg(args, "--users", 100_000)?;
    let groups: usize = arg(args, "--groups", 500)?;
    let estate: usize = arg(args, "--numbers", 100_000)?;
    let per_slot: usize = arg(args, "--jobs-per-slot", 20)?;
    let default_concurrency = Config::new("x").concurrency as u64;
    let concurrencies = list(args, "--concurrency", &format!("{default_concurrency},32"))?;
    let latencies = list(args, "--latency", "0,50")?;
    let backend = if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };

    let started = Instant::now();
    let mut sim = SimProcess::start(users, groups)?;
    eprintln!(
        "simulator up in {:.1} s at {}",
        started.elapsed().as_secs_f64(),
        sim.graph_base_url
    );

    // The server's pool size by default (TELESTATE_DB_POOL_SIZE).
    let db = Db::connect(&url, 16)?;
    db.migrate()?;
    let key = SecretKey::insecure_default();
    let (graph_url, login_url) = (sim.graph_base_url.clone(), sim.login_base_url.clone());
    let platform = {
        let key = key.clone();
        on_db(&db, move |db| {
            db.write(|c| {
                let sealer = store::settings::sealer(c, &key)?;
                let input = store::platforms::NewPlatform {
                    name: "Bench Teams".into(),
                    kind: "teams".into(),
                    tenant_id: Some(SimConfig::default().tenant_id),
                    client_id: Some(SimConfig::default().client_id),
                    client_secret: Some(SimConfig::default().client_secret),
                    graph_base_url: Some(graph_url),
                    login_base_url: Some(login_url),
                    // Not due again during the run: the provisioning part runs Worker::run,
                    // whose sync loop would otherwise start a second sync.
                    sync_interval_seconds: Some(86_400),
                    ..Default::default()
                };
                store::platforms::create(c, &permit(), &sealer, input)
            })
        })
        .await?
        .id
    };
    let w = Worker::new(
        db.clone(),
        key.clone(),
        Config::new("bench-sync"),
        Arc::new(Metrics::default()),
    )?;

    // --- 1. initial sync ------------------------------------------------------------------
    let sync_rss_before_mb = rss_mb();
    reset_hwm();
    let t = Instant::now();
    let synced = worker::sync::sync_platform(&w, platform, "Bench Teams").await?;
    let sync_s = t.elapsed().as_secs_f64();
    let sync_hwm_mb = hwm_mb();
    if let Some(e) = &synced.error {
        bail!("the initial sync failed: {e}");
    }
    ensure!(
        synced.users_changed == users as i64 && synced.groups_changed == groups as i64,
        "the sync stored {} users and {} groups, expected {users} and {groups}",
        synced.users_changed,
        synced.groups_changed
    );
    eprintln!(
        "1. initial sync: {users} users, {} groups, {} memberships in {sync_s:.2} s; RSS {sync_rss_before_mb:.1} MB before, peak {sync_hwm_mb:.1} MB",
        synced.groups_changed, synced.memberships
    );
    // Graph's share of the sync: the same full reads again, without the database.
    let client = w.graph(platform).await?;
    let t = Instant::now();
    let read_users = count_changes(client.users_delta(None)?).await?;
    let read_groups = count_changes(client.groups_delta(None)?).await?;
    let graph_read_s = t.elapsed().as_secs_f64();
    eprintln!(
        "   of which reading Graph alone: {read_users} user changes, {read_groups} group changes (member chunks apart) in {graph_read_s:.2} s"
    );

    // --- 2. listing and adopting Teams' estate --------------------------------------------
    let t = Instant::now();
    sim.ask(&format!("numbers {ESTATE_START} {estate} estate"))?;
    eprintln!(
        "   (simulator: {estate} numbers added in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    // Half of the estate is already in the inventory, free.
    let t = Instant::now();
    inventory_numbers(&db, platform, ESTATE_START, estate / 2).await?;
    let inventory_fill_s = t.elapsed().as_secs_f64();
    eprintln!(
        "   (inventory: {} numbers created in {inventory_fill_s:.1} s)",
        estate / 2
    );

    // The listing as the worker does it: the next (delta) sync, whose last step lists
    // numberAssignments into the snapshot; the paging alone is timed after it.
    reset_hwm();
    let t = Instant::now();
    let outcome = worker::sync::sync_platform(&w, platform, "Bench Teams").await?;
    let list_sync_s = t.elapsed().as_secs_f64();
    let list_hwm_mb = hwm_mb();
    if let Some(e) = &outcome.error {
        bail!("the listing sync failed: {e}");
    }
    let t = Instant::now();
    let listed = client.number_assignments().await?.len();
    let list_http_s = t.elapsed().as_secs_f64();
    ensure!(
        listed == estate,
        "Teams listed {listed} numbers, expected {estate}"
    );
    eprintln!(
        "2. listing: delta sync with the numberAssignments step {list_sync_s:.2} s (peak RSS {list_hwm_mb:.1} MB); paging {listed} numbers alone {list_http_s:.2} s"
    );

    reset_hwm();
    let t = Instant::now();
    let settled = on_db(&db, move |db| {
        db.write(|c| store::drift::adopt(c, &permit(), platform, None))
    })
    .await?;
    let adopt_s = t.elapsed().as_secs_f64();
    let adopt_hwm_mb = hwm_mb();
    let drift_left = on_db(&db, move |db| {
        db.read(|c| store::drift::list(c, platform, None, Some(100)))
    })
    .await?
    .items
    .len();
    eprintln!(
        "   adopt: {} numbers settled, {} skipped in {adopt_s:.2} s (peak RSS {adopt_hwm_mb:.1} MB); drift left: {drift_left}",
        settled.done,
        settled.skipped.len()
    );
    if let Some(s) = settled.skipped.first() {
        eprintln!("   first skipped: {} ({})", s.number, s.reason);
    }
    let estate_row = EstateRow {
        sync_s,
        sync_rss_before_mb,
        sync_hwm_mb,
        users_changed: synced.users_changed,
        groups_changed: synced.groups_changed,
        memberships: synced.memberships,
        graph_read_s,
        listed,
        list_sync_s,
        list_http_s,
        list_hwm_mb,
        inventory_fill_s,
        adopt_s,
        adopt_hwm_mb,
        adopted: settled.done,
        skipped: settled.skipped.len(),
        drift_left,
    };
    drop(w);

    // --- 3. provisioning jobs per second --------------------------------------------------
    // Users without a number in the estate (i % 10 == 9) receive the new ones.
    let mut next_user = 0usize;
    let mut job_rows = Vec::new();
    for (k, (latency, concurrency)) in latencies
        .iter()
        .flat_map(|l| concurrencies.iter().map(move |c| (*l, *c as usize)))
        .enumerate()
    {
        let jobs = per_slot * concurrency;
        let start = JOBS_START + k as u64 * 10_000;
        ensure!(jobs <= 10_000, "at most 10,000 jobs a scenario");
        sim.ask(&format!("numbers {start} {jobs} free"))?;
        inventory_numbers(&db, platform, start, jobs).await?;
        let targets: Vec<String> = (0..jobs)
            .map(|_| {
                let u = next_user * 10 + 9;
                next_user += 1;
                user_id(u)
            })
            .collect();
        ensure!(
            next_user * 10 <= users,
            "not enough numberless users for the jobs"
        );
        let before = job_counts(&db).await?;
        let t = Instant::now();
        for (chunk_no, chunk) in targets.chunks(500).enumerate() {
            let chunk = chunk.to_vec();
            on_db(&db, move |db| {
                db.write(|c| {
                    for (i, uid) in chunk.iter().enumerate() {
                        let target = store::directory::resolve_target(c, "user", uid)?;
                        let request = Request::Assign {
                            target,
                            override_reservation: false,
                            override_quarantine: false,
                            reassign: false,
                        };
                        store::lifecycle::apply(
                            c,
                            &permit(),
                            &e164(start, chunk_no * 500 + i),
                            request,
                            None,
                        )?;
                    }
                    Ok(())
                })
            })
            .await?;
        }
        let assign_s = t.elapsed().as_secs_f64();
        let queued = job_counts(&db).await?.get("queued").copied().unwrap_or(0)
            - before.get("queued").copied().unwrap_or(0);
        ensure!(
            queued == jobs as i64,
            "{jobs} assignments queued {queued} jobs"
        );
        let calls_before = sim_stats(&mut sim)?;
        sim.ask(&format!("latency {latency}"))?;

        let mut config = Config::new(format!("bench-c{concurrency}-l{latency}"));
        config.concurrency = concurrency;
        let w = Worker::new(
            db.clone(),
            key.clone(),
            config,
            Arc::new(Metrics::default()),
        )?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let t = Instant::now();
        let task = tokio::spawn(w.clone().run(stopped));
        let deadline = Duration::from_secs(600);
        let after = loop {
            let counts = job_counts(&db).await?;
            let open = counts.get("queued").copied().unwrap_or(0)
                + counts.get("running").copied().unwrap_or(0);
            if open == 0 {
                break counts;
            }
            if t.elapsed() > deadline {
                bail!("{open} jobs still open after {deadline:?}: {counts:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let run_s = t.elapsed().as_secs_f64();
        let _ = stop.send(true);
        let _ = task.await;
        sim.ask("latency 0")?;
        let delta = |state: &str| {
            after.get(state).copied().unwrap_or(0) - before.get(state).copied().unwrap_or(0)
        };
        let row = JobRow {
            latency_ms: latency,
            concurrency,
            jobs,
            assign_s,
            run_s,
            succeeded: delta("succeeded"),
            failed: delta("failed"),
            assign_calls: sim_stats(&mut sim)? - calls_before,
        };
        eprintln!(
            "3. provisioning, latency {latency} ms, concurrency {concurrency}: {jobs} jobs (assigned in {assign_s:.2} s) ran in {run_s:.2} s = {:.1} jobs/s; {} succeeded, {} failed, {} assignNumber calls",
            jobs as f64 / run_s,
            row.succeeded,
            row.failed,
            row.assign_calls
        );
        job_rows.push(row);
    }

    let e = &estate_row;
    println!();
    println!(
        "backend, users, groups, memberships, sync_s, sync_rss_before_mb, sync_peak_rss_mb, graph_read_s, teams_numbers, list_sync_s, list_paging_s, list_peak_rss_mb, adopt_s, adopt_peak_rss_mb, adopted, skipped, drift_left, inventory_fill_s"
    );
    println!(
        "{backend}, {}, {}, {}, {:.2}, {:.1}, {:.1}, {:.2}, {}, {:.2}, {:.2}, {:.1}, {:.2}, {:.1}, {}, {}, {}, {:.2}",
        e.users_changed,
        e.groups_changed,
        e.memberships,
        e.sync_s,
        e.sync_rss_before_mb,
        e.sync_hwm_mb,
        e.graph_read_s,
        e.listed,
        e.list_sync_s,
        e.list_http_s,
        e.list_hwm_mb,
        e.adopt_s,
        e.adopt_hwm_mb,
        e.adopted,
        e.skipped,
        e.drift_left,
        e.inventory_fill_s
    );
    println!();
    println!(
        "backend, latency_ms, concurrency, jobs, jobs_per_s, run_s, assign_s, succeeded, failed, assign_calls"
    );
    for r in &job_rows {
        println!(
            "{backend}, {}, {}, {}, {:.1}, {:.2}, {:.2}, {}, {}, {}",
            r.latency_ms,
            r.concurrency,
            r.jobs,
            r.jobs as f64 / r.run_s,
            r.run_s,
            r.assign_s,
            r.succeeded,
            r.failed,
            r.assign_calls
        );
    }
    Ok(())
}

/// assignNumber calls the simulator has handled so far.
fn sim_stats(sim: &mut SimProcess) -> anyhow::Result<u64> {
    let line = sim.ask("stats")?;
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("simulator stats: {line:?}"))
}
