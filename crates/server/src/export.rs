//! `telestate export`: the inventory as CSV, in the import's columns, to stdout or a file.
//!
//! Two ways in. Directly against the database (`TELESTATE_DATABASE_URL`), unscoped, through
//! the same `store::export` pages and CSV writer as the API; or against a running server
//! (`--url`, `--token`), whose `GET /api/v1/export/numbers.csv` stream is copied as it
//! arrives, so the caller's scope applies. Either way memory stays at one page, and a
//! file given with `-o` appears only when the export completed (it is written beside
//! the target and renamed), so a failed run never leaves a truncated file that looks whole.

use std::{
    fs::File,
    io::{self, BufWriter, IsTerminal, Read, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use api_types::NumberQuery;
use domain::{Permit, Source};
use indicatif::{ProgressBar, ProgressStyle};
use store::export::{Export, PAGE_ROWS};

use crate::{
    config::Config,
    remote::{client, failure, url},
};

/// Filters (those of `GET /api/v1/numbers`), where to write, and where to read from.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// Only numbers with this status: available, reserved, assigned or quarantined.
    #[arg(long)]
    status: Option<String>,
    /// Only numbers carrying this tag; repeat to require several.
    #[arg(long)]
    tag: Vec<String>,
    /// Only numbers at this location (its name or id).
    #[arg(long, value_name = "NAME_OR_ID")]
    location: Option<String>,
    /// Only numbers of this range (its id).
    #[arg(long, value_name = "ID")]
    range: Option<String>,
    /// Only numbers of this ISO country.
    #[arg(long, value_name = "CC")]
    country: Option<String>,
    /// Only numbers on this platform (its id).
    #[arg(long, value_name = "ID")]
    platform: Option<String>,
    /// Only numbers of this type: direct_routing, operator_connect or calling_plan.
    #[arg(long, value_name = "TYPE")]
    number_type: Option<String>,
    /// Only numbers assigned to this user or service (id, UPN or name).
    #[arg(long, value_name = "WHO")]
    assigned_to: Option<String>,
    /// Free text: digits match anywhere in the number, words in the description or the
    /// assignee's name.
    #[arg(long, value_name = "TEXT")]
    q: Option<String>,
    /// Print how the database reads the first page of these filters (the index that
    /// drives it, the statement, the plan) instead of exporting; database only.
    #[arg(long, conflicts_with = "url")]
    explain: bool,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Export through this Telestate server (e.g. http://127.0.0.1:8080) instead of the database.
    #[arg(long, requires = "token")]
    url: Option<String>,
    /// Bearer token for --url: an API token (tst_…) or a login JWT.
    #[arg(long, env = "TELESTATE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Runs the export; an error (and so a non-zero exit) when anything failed.
pub fn run(args: ExportArgs, config: &Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut out = Output::open(args.output.as_deref())?;
    let exported = match &args.url {
        Some(url) => {
            let token = args.token.as_deref().context("--url needs --token")?;
            remote(&args, url, token, &mut out)
        }
        None => direct(&args, config, &mut out),
    };
    let exported = match exported {
        Ok(n) => n,
        Err(e) => {
            out.discard();
            return Err(e);
        }
    };
    out.finish()?;
    if !args.explain {
        eprintln!(
            "exported {exported} numbers in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The filters as the list's query type, so both paths validate them the way the API does.
fn query(args: &ExportArgs, location_id: Option<String>) -> NumberQuery {
    NumberQuery {
        status: args.status.clone(),
        tag: (!args.tag.is_empty()).then(|| args.tag.join(",")),
        location: location_id,
        range: args.range.clone(),
        platform: args.platform.clone(),
        number_type: args.number_type.clone(),
        assigned_to: args.assigned_to.clone(),
        country: args.country.clone(),
        q: args.q.clone(),
        ..Default::default()
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn progress(total: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(t) => (
            ProgressBar::new(t),
            "{bar:40} {human_pos}/{human_len} numbers  {per_sec}  eta {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {human_pos} numbers  {per_sec}  {elapsed}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn direct(args: &ExportArgs, config: &Config, out: &mut Output) -> anyhow::Result<u64> {
    let db = crate::open_db(config)?;
    let permit = Permit::system("cli-export", Source::Cli);
    let location_id = match args.location.as_deref().map(str::trim) {
        None => None,
        Some(l) if is_id(l) => Some(l.to_string()),
        Some(name) => {
            let page = db
                .read(|c| {
                    store::locations::list(c, permit.scope(), Some(name), None, None, Some(1000))
                })
                .map_err(|e| anyhow::anyhow!("looking up location {name:?}: {e}"))?;
            let found = page
                .items
                .iter()
                .find(|l| l.name.to_lowercase() == name.to_lowercase())
                .with_context(|| format!("--location: no location named {name:?}"))?;
            Some(found.id.to_string())
        }
    };
    let filter =
        api::cli::number_filter(&query(args, location_id)).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.explain {
        let lines = db
            .read(|c| store::numbers::explain_list(c, permit.scope(), &filter, None, None))
            .map_err(|e| anyhow::anyhow!("explaining the search: {e}"))?;
        for line in lines {
            out.write_all(format!("{line}\n").as_bytes())?;
        }
        return Ok(0);
    }
    let export = db
        .read(|c| Export::prepare(c, permit.scope(), filter))
        .map_err(|e| anyhow::anyhow!("preparing the export: {e}"))?;
    let total = db
        .read(|c| export.count(c))
        .map_err(|e| anyhow::anyhow!("counting the numbers: {e}"))?;
    let bar = progress(Some(total.max(0) as u64));
    out.write_all(&api::cli::export_header_row())?;
    let mut after: Option<String> = None;
    let mut exported = 0u64;
    loop {
        let (bytes, rows, next) = db
            .read(|c| api::cli::export_numbers_page(c, &export, after.as_deref(), PAGE_ROWS))
            .map_err(|e| anyhow::anyhow!("reading numbers after {after:?}: {e}"))?;
        out.write_all(&bytes)?;
        exported += rows as u64;
        bar.inc(rows as u64);
        match next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    bar.finish_and_clear();
    Ok(exported)
}

/// Counts CSV records by their line ends outside quotes (a quote inside a quoted field is
/// doubled, so the parity still holds).
#[derive(Default)]
struct RecordCounter {
    in_quotes: bool,
    records: u64,
}

impl RecordCounter {
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        let before = self.records;
        for &b in bytes {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => self.records += 1,
                _ => {}
            }
        }
        self.records - before
    }
}

fn remote_location(
    client: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    name: &str,
) -> anyhow::Result<String> {
    let mut url = url(base, "/api/v1/locations")?;
    url.query_pairs_mut()
        .append_pair("q", name)
        .append_pair("limit", "1000");
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .with_context(|| format!("looking up location {name:?}"))?;
    if !response.status().is_success() {
        return Err(failure(response));
    }
    let body: serde_json::Value =
        serde_json::from_str(&response.text()?).context("reading the location list")?;
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| {
            l["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase() == name.to_lowercase())
        })
        .and_then(|l| l["id"].as_str().map(str::to_string))
        .with_context(|| format!("--location: no location named {name:?}"))
}

fn remote(args: &ExportArgs, base: &str, token: &str, out: &mut Output) -> anyhow::Result<u64> {
    let client = client()?;
    let location_id = match args.location.as_deref().map(str::trim) {
        None => None,
        Some(l) if is_id(l) => Some(l.to_string()),
        Some(name) => Some(remote_location(&client, base, token, name)?),
    };
    let q = query(args, location_id);
    let mut url = url(base, "/api/v1/export/numbers.csv")?;
    for (key, value) in [
        ("status", &q.status),
        ("tag", &q.tag),
        ("location", &q.location),
        ("range", &q.range),
        ("country", &q.country),
        ("q", &q.q),
    ] {
        if let Some(v) = value {
            url.query_pairs_mut().append_pair(key, v);
        }
    }
    let mut response = client
        .get(url.clone())
        .bearer_auth(token)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        return Err(failure(response));
    }
    let bar = progress(None);
    let mut counter = RecordCounter::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                bail!("the export stream ended early ({e}); the output is incomplete");
            }
        };
        out.write_all(&buf[..n])?;
        bar.inc(counter.feed(&buf[..n]));
    }
    bar.finish_and_clear();
    if counter.in_quotes {
        bail!("the export stream ended inside a quoted field; the output is incomplete");
    }
    // The first record is the header row.
    Ok(counter.records.saturating_sub(1))
}

/// Stdout, or a file written beside its target and renamed into place by [`Output::finish`].
enum Output {
    Stdout(BufWriter<io::Stdout>),
    File {
        writer: BufWriter<File>,
        partial: PathBuf,
        target: PathBuf,
    },
}

impl Output {
    fn open(target: Option<&Path>) -> anyhow::Result<Output> {
        let Some(target) = target else {
            return Ok(Output::Stdout(BufWriter::with_capacity(
                256 * 1024,
                io::stdout(),
            )));
        };
        let name = target
            .file_name()
            .with_context(|| format!("-o {}: not a file name", target.display()))?;
        let mut partial_name = std::ffi::OsString::from(".");
        partial_name.push(name);
        partial_name.push(".partial");
        let partial = target.with_file_name(partial_name);
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        Ok(Output::File {
            writer: BufWriter::with_capacity(256 * 1024, file),
            partial,
            target: target.to_path_buf(),
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Output::Stdout(w) => w.write_all(bytes).context("writing to stdout"),
            Output::File {
                writer, partial, ..
            } => writer
                .write_all(bytes)
                .with_context(|| format!("writing {}", partial.display())),
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush().context("writing to stdout"),
            Output::File {
                writer,
                partial,
                target,
            } => {
                let file = writer
                    .into_inner()
                    .map_err(|e| anyhow::anyhow!("writing {}: {}", partial.display(), e.error()))?;
                file.sync_all()
                    .with_context(|| format!("writing {}", partial.display()))?;
                std::fs::rename(&partial, &target).with_context(|| {
                    format!("renaming {} to {}", partial.display(), target.display())
                })
            }
        }
    }

    fn discard(self) {
        if let Output::File { partial, .. } = self {
            let _ = std::fs::remove_file(partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_counted_by_line_ends_outside_quotes() {
        let mut c = RecordCounter::default();
        assert_eq!(c.feed(b"number,description\n+441,\"two\nlines\"\n+44"), 2);
        assert_eq!(c.feed(b"2,\"say \"\"hi\"\"\"\n"), 1);
        assert!(!c.in_quotes);
        assert_eq!(c.records, 3);
    }
}
