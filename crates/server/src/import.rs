//! `telestate import FILE [--apply]`: plan an import (and apply it) from the command line.
//!
//! Directly against the database (`TELESTATE_DATABASE_URL`, as the system: unscoped, the
//! audit says source `cli` for the plan and `import` for the apply), or through a server
//! (`--url`, `--token`), where the token's role and scope apply. Either way the plan is
//! the one the API makes: the summary and the first errors (with line numbers) are
//! printed; the exit code is non-zero when the plan has errors or the apply fails.

use std::{
    io::{self, IsTerminal, Read},
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use api_types::{ImportApplied, ImportError, ImportPlan, ImportSummary};
use domain::{Permit, Source};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    config::Config,
    remote::{client, failure, url},
};

/// What to import and where to.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The CSV file (the export's columns; a subset with `number` is enough).
    file: PathBuf,
    /// Apply the plan right away when it has no errors (otherwise only plan).
    #[arg(long)]
    apply: bool,
    /// How many errors to print (all are in the plan).
    #[arg(long, default_value_t = 20, value_name = "N")]
    errors: usize,
    /// Import through this Telestate server (e.g. http://127.0.0.1:8080) instead of the database.
    #[arg(long, requires = "token")]
    url: Option<String>,
    /// Bearer token for --url: an API token (tst_…) or a login JWT.
    #[arg(long, env = "TELESTATE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// What the command prints, whichever way it ran.
struct Outcome {
    id: String,
    summary: ImportSummary,
    file_errors: Vec<ImportError>,
    row_errors: Vec<(String, ImportError)>,
}

/// Runs the import; an error (and so a non-zero exit) when the plan has errors or the
/// apply failed.
pub fn run(args: ImportArgs, config: &Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let bar = progress(bytes.len() as u64);
    let (outcome, applied) = match &args.url {
        Some(url) => {
            let token = args.token.as_deref().context("--url needs --token")?;
            remote(&args, url, token, bytes, &bar)?
        }
        None => direct(&args, config, &bytes, &bar)?,
    };
    bar.finish_and_clear();
    print_plan(&outcome, args.errors);
    let planned_s = started.elapsed().as_secs_f64();
    if outcome.summary.errors > 0 {
        bail!(
            "the plan has {} error(s); nothing was applied (plan {})",
            outcome.summary.errors,
            outcome.id
        );
    }
    match applied {
        None => println!(
            "planned in {planned_s:.1} s; apply with --apply, or POST /api/v1/imports/{}/apply within the plan's lifetime",
            outcome.id
        ),
        Some(a) => {
            let a = a?;
            println!(
                "applied plan {} in {:.1} s: change set {}",
                a.id,
                started.elapsed().as_secs_f64(),
                a.change_set_id
            );
        }
    }
    Ok(())
}

fn progress(total: u64) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {binary_bytes}/{binary_total_bytes}  {msg}  {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn print_plan(o: &Outcome, max_errors: usize) {
    let s = &o.summary;
    println!("plan {}", o.id);
    println!(
        "  {} rows: {} unchanged, {} creates, {} updates, {} assigns, {} reassigns, {} unassigns, \
         {} reserves, {} releases, {} quarantines, {} deletes; {} errors",
        s.rows,
        s.unchanged,
        s.creates,
        s.updates,
        s.assigns,
        s.reassigns,
        s.unassigns,
        s.reserves,
        s.releases,
        s.quarantines,
        s.deletes,
        s.errors
    );
    let line = |number: &str, e: &ImportError| {
        let column = e
            .column
            .as_deref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let number = if number.is_empty() {
            String::new()
        } else {
            format!(" {number}")
        };
        println!("  line {}{column}{number}: {}", e.line, e.reason);
    };
    let all = o
        .file_errors
        .iter()
        .map(|e| ("", e))
        .chain(o.row_errors.iter().map(|(n, e)| (n.as_str(), e)));
    for (number, e) in all.take(max_errors) {
        line(number, e);
    }
    let shown = (o.file_errors.len() + o.row_errors.len()).min(max_errors) as u64;
    if s.errors > shown {
        println!("  … and {} more error(s)", s.errors - shown);
    }
}

fn summary_of(s: &store::imports::Summary) -> ImportSummary {
    api::cli::import_summary(s.clone())
}

fn direct(
    args: &ImportArgs,
    config: &Config,
    bytes: &[u8],
    bar: &ProgressBar,
) -> anyhow::Result<(Outcome, Option<anyhow::Result<ImportApplied>>)> {
    use store::imports;
    let db = crate::open_db(config)?;
    let permit = Permit::system("cli-import", Source::Cli);
    let ttl = chrono::Duration::seconds(config.import_plan_ttl_seconds);
    bar.set_message("planning");
    let plan = imports::plan_csv(
        &db,
        &permit,
        bytes,
        store::now(),
        ttl,
        config.import_max_errors,
        &mut |done, _| bar.set_position(done),
    )
    .map_err(|e| anyhow::anyhow!("planning: {e}"))?;
    let mut row_errors = Vec::new();
    let mut cursor: Option<String> = None;
    while plan.summary.errors > 0 && row_errors.len() < args.errors {
        let page = db
            .read(|c| imports::rows(c, &permit, &plan.id, cursor.as_deref(), Some(1000)))
            .map_err(|e| anyhow::anyhow!("reading the plan: {e}"))?;
        for r in page.items {
            for e in r.errors {
                row_errors.push((
                    r.number.clone(),
                    ImportError {
                        line: e.line,
                        column: e.column,
                        reason: e.reason,
                    },
                ));
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let outcome = Outcome {
        id: plan.id.clone(),
        summary: summary_of(&plan.summary),
        file_errors: plan
            .file_errors
            .iter()
            .map(|e| ImportError {
                line: e.line,
                column: e.column.clone(),
                reason: e.reason.clone(),
            })
            .collect(),
        row_errors,
    };
    if !args.apply || plan.summary.errors > 0 {
        return Ok((outcome, None));
    }
    bar.set_message("applying");
    let applied = match db.write(|c| imports::apply(c, &permit, &plan.id)) {
        Ok(a) => Ok(ImportApplied {
            id: a.id,
            status: a.status,
            change_set_id: a.change_set_id,
            applied: summary_of(&a.applied),
        }),
        Err(e) => {
            if let store::StoreError::PlanRefused {
                reason: store::PlanRefusal::Stale,
                ..
            } = &e
            {
                let _ = db.write(|c| imports::mark(c, &plan.id, domain::PlanStatus::Failed));
            }
            Err(anyhow::anyhow!("applying: {e}"))
        }
    };
    Ok((outcome, Some(applied)))
}

fn json<T: serde::de::DeserializeOwned>(
    response: reqwest::blocking::Response,
    want: u16,
) -> anyhow::Result<T> {
    if response.status().as_u16() != want {
        return Err(failure(response));
    }
    let body = response.bytes().context("reading the answer")?;
    serde_json::from_slice(&body).context("the server's answer is not the documented JSON")
}

/// Counts the bytes the upload has sent, for the progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn remote(
    args: &ImportArgs,
    base: &str,
    token: &str,
    bytes: Vec<u8>,
    bar: &ProgressBar,
) -> anyhow::Result<(Outcome, Option<anyhow::Result<ImportApplied>>)> {
    let client = client()?;
    let auth = format!("Bearer {token}");
    let len = bytes.len() as u64;
    bar.set_message("uploading and planning");
    let body = reqwest::blocking::Body::sized(
        Counted {
            inner: io::Cursor::new(bytes),
            bar: bar.clone(),
        },
        len,
    );
    let response = client
        .post(url(base, "/api/v1/imports")?)
        .header("authorization", &auth)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .with_context(|| format!("sending the file to {base}"))?;
    let plan: ImportPlan = json(response, 201)?;
    let mut row_errors = Vec::new();
    let mut page = plan.clone();
    loop {
        for r in &page.rows {
            for e in &r.errors {
                row_errors.push((r.number.clone(), e.clone()));
            }
        }
        let Some(cursor) = page
            .next_cursor
            .clone()
            .filter(|_| row_errors.len() < args.errors)
        else {
            break;
        };
        let mut next = url(base, &format!("/api/v1/imports/{}", plan.id))?;
        next.query_pairs_mut().append_pair("cursor", &cursor);
        let response = client
            .get(next)
            .header("authorization", &auth)
            .send()
            .context("reading the plan")?;
        page = json(response, 200)?;
    }
    let outcome = Outcome {
        id: plan.id.clone(),
        summary: plan.summary.clone(),
        file_errors: plan.errors.clone(),
        row_errors,
    };
    if !args.apply || plan.summary.errors > 0 {
        return Ok((outcome, None));
    }
    bar.set_message("applying");
    let applied = client
        .post(url(base, &format!("/api/v1/imports/{}/apply", plan.id))?)
        .header("authorization", &auth)
        .send()
        .context("applying the plan")
        .and_then(|r| json::<ImportApplied>(r, 200));
    Ok((outcome, Some(applied)))
}
