//! How long to wait before trying again: the server's Retry-After when it gave one (never
//! less), exponential backoff with full jitter when it did not.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::RetryPolicy;

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP-date.
///
/// A date in the past means "now"; a value that is neither form is ignored (the caller then
/// backs off on its own).
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // Fractional seconds are not in RFC 9110, but are cheap to honour rather than ignore.
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The cap for backoff step `n` (0-based): `base · 2^n`, at most `max_delay`.
pub(crate) fn backoff_ceiling(policy: &RetryPolicy, n: u32) -> Duration {
    let factor = 2u32.saturating_pow(n.min(31));
    policy
        .base_delay
        .saturating_mul(factor)
        .min(policy.max_delay)
}

/// A full-jitter backoff for step `n`: uniform in `[0, ceiling]`, so many workers throttled
/// at once do not come back at once.
pub(crate) fn backoff(policy: &RetryPolicy, n: u32) -> Duration {
    let ceiling = backoff_ceiling(policy, n);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// The wait before retrying after a throttling answer: the server's Retry-After, never less,
/// or backoff when it gave none.
pub(crate) fn throttle_wait(
    policy: &RetryPolicy,
    n: u32,
    retry_after: Option<Duration>,
) -> Duration {
    retry_after.unwrap_or_else(|| backoff(policy, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:27:50Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        assert_eq!(
            parse_retry_after("10", now()),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    #[test]
    fn a_server_retry_after_is_never_shortened_even_beyond_max_delay() {
        let policy = RetryPolicy::default();
        let asked = Duration::from_secs(90);
        assert_eq!(throttle_wait(&policy, 5, Some(asked)), asked);
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_jitter_below_it() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        assert_eq!(backoff_ceiling(&policy, 0), Duration::from_millis(100));
        assert_eq!(backoff_ceiling(&policy, 3), Duration::from_millis(800));
        assert_eq!(backoff_ceiling(&policy, 4), Duration::from_millis(1000));
        assert_eq!(backoff_ceiling(&policy, 40), Duration::from_millis(1000));
        for n in 0..10 {
            assert!(backoff(&policy, n) <= backoff_ceiling(&policy, n));
        }
    }
}
