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
