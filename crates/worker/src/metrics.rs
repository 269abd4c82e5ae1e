//! The worker's Prometheus metrics: jobs finished and their latency, sync runs, Graph
//! requests by endpoint and status, throttles. Rendered by `/metrics` of the process it
//! runs in (jobs by state are read from the database there, so they cover every worker).

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use store::jobs::JobState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GraphLabels {
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    trigger: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

fn seconds_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.01, 2.0, 14,
    ))
}

/// The worker's metrics.
pub struct Metrics {
    jobs: Family<StateLabels, Counter>,
    job_seconds: Histogram,
    syncs: Family<OutcomeLabels, Counter>,
    sync_seconds: Histogram,
    sync_objects: Counter,
    graph_requests: Family<GraphLabels, Counter>,
    throttles: Counter,
    rule_runs: Family<RunLabels, Counter>,
    rule_run_seconds: Histogram,
    rule_lines: Family<KindLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            jobs: Family::default(),
            job_seconds: seconds_histogram(),
            syncs: Family::default(),
            sync_seconds: seconds_histogram(),
            sync_objects: Counter::default(),
            graph_requests: Family::default(),
            throttles: Counter::default(),
            rule_runs: Family::default(),
            rule_run_seconds: seconds_histogram(),
            rule_lines: Family::default(),
        }
    }
}

impl Metrics {
    /// Adds the worker's metrics to a registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "telestate_provisioning_attempts",
            "Provisioning attempts finished, by the state they left the job in",
            self.jobs.clone(),
        );
        registry.register(
            "telestate_provisioning_attempt_seconds",
            "Time from claiming a provisioning job to recording its outcome",
            self.job_seconds.clone(),
        );
        registry.register(
            "telestate_sync_runs",
            "Directory sync runs by outcome",
            self.syncs.clone(),
        );
        registry.register(
            "telestate_sync_duration_seconds",
            "Directory sync run duration",
            self.sync_seconds.clone(),
        );
        registry.register(
            "telestate_sync_objects",
            "Users and groups created, changed or flagged by the sync",
            self.sync_objects.clone(),
        );
        registry.register(
            "telestate_graph_requests",
            "Microsoft Graph requests by endpoint and HTTP status (0: no answer)",
            self.graph_requests.clone(),
        );
        registry.register(
            "telestate_graph_throttles",
            "Graph answers that asked to retry later (429, 503 and 504)",
            self.throttles.clone(),
        );
        registry.register(
            "telestate_rule_runs",
            "Rule runs finished, by trigger (delta, manual, schedule) and outcome",
            self.rule_runs.clone(),
        );
        registry.register(
            "telestate_rule_run_duration_seconds",
            "Rule run duration, from its start by a worker to its report",
            self.rule_run_seconds.clone(),
        );
        registry.register(
            "telestate_rule_outcomes",
            "What rule runs did to users: numbers assigned and unassigned, users skipped, failures",
            self.rule_lines.clone(),
        );
    }

    /// Counts an attempt that left its job in `state`, and its duration.
    pub fn job_finished(&self, state: JobState, took: Duration) {
        self.jobs
            .get_or_create(&StateLabels {
                state: state.as_str().into(),
            })
            .inc();
        self.job_seconds.observe(took.as_secs_f64());
    }

    /// Counts a sync run.
    pub fn sync_finished(&self, ok: bool, took: Duration, objects: u64) {
        self.syncs
            .get_or_create(&OutcomeLabels {
                outcome: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
        self.sync_seconds.observe(took.as_secs_f64());
        self.sync_objects.inc_by(objects);
    }
}

impl Metrics {
    /// Counts a rule run, its duration and its totals (assigned, unassigned, skipped,
    /// failed).
    pub fn rule_run_finished(&self, trigger: &str, ok: bool, took: Duration, totals: [i64; 4]) {
        self.rule_runs
            .get_or_create(&RunLabels {
                trigger: trigger.into(),
                outcome: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
        self.rule_run_seconds.observe(took.as_secs_f64());
        for (kind, n) in ["assigned", "unassigned", "skipped", "failed"]
            .into_iter()
            .zip(totals)
        {
            self.rule_lines
                .get_or_create(&KindLabels { kind: kind.into() })
                .inc_by(n.max(0) as u64);
        }
    }
}

impl graph::Observer for Metrics {
    fn request(&self, event: &graph::RequestEvent<'_>) {
        let status = event.status.unwrap_or(0);
        self.graph_requests
            .get_or_create(&GraphLabels {
                endpoint: event.endpoint.as_str().into(),
                status: status.to_string(),
            })
            .inc();
        if matches!(status, 429 | 503 | 504) {
            self.throttles.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_run_is_counted_by_trigger_and_outcome_with_its_totals() {
        let m = Metrics::default();
        let mut registry = Registry::default();
        m.register(&mut registry);
        m.rule_run_finished("manual", true, Duration::from_millis(1500), [5, 1, 3, 0]);
        m.rule_run_finished("delta", false, Duration::from_millis(20), [0, 0, 0, 2]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "telestate_rule_runs_total{trigger=\"manual\",outcome=\"ok\"} 1",
            "telestate_rule_runs_total{trigger=\"delta\",outcome=\"error\"} 1",
            "telestate_rule_outcomes_total{kind=\"assigned\"} 5",
            "telestate_rule_outcomes_total{kind=\"skipped\"} 3",
            "telestate_rule_outcomes_total{kind=\"failed\"} 2",
            "telestate_rule_run_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
