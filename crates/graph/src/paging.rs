//! Paged listings that end: the guard every listing keeps against a server that would have
//! it page forever.
//!
//! Rule a newcomer would otherwise break: a listing never trusts the server to stop. Each
//! page counts against [`crate::Limits::max_pages`], and an `@odata.nextLink` the listing
//! already followed is a loop, not a page to fetch again.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use reqwest::Url;

use crate::{Endpoint, GraphError};

/// Counts one listing's pages and remembers the links it followed.
pub(crate) struct Paging {
    endpoint: Endpoint,
    limit: u32,
    pages: u32,
    /// Hashes of the links followed, not the links: a round of 100,000 pages with
    /// kilobyte-long skiptokens would otherwise keep 100 MB to guard itself. The hasher's
    /// keys are random per listing, so a server cannot craft a collision to end a round.
    followed: HashSet<u64>,
    hasher: RandomState,
}

impl Paging {
    /// A guard for a listing that starts at `first`.
    pub(crate) fn new(endpoint: Endpoint, limit: u32, first: &Url) -> Paging {
        let mut paging = Paging {
            endpoint,
            limit,
            pages: 0,
            followed: HashSet::new(),
            hasher: RandomState::new(),
        };
        paging
            .followed
            .insert(paging.hasher.hash_one(first.as_str()));
        paging
    }

    /// Counts the page about to be fetched; past the limit, the error instead.
    pub(crate) fn count(&mut self) -> Result<(), GraphError> {
        if self.pages >= self.limit {
            return Err(GraphError::TooManyPages {
                endpoint: self.endpoint,
                limit: self.limit,
            });
        }
        self.pages += 1;
        Ok(())
    }

    /// Accepts `next` as the link to follow; an error when this listing followed it before.
    pub(crate) fn follow(&mut self, next: &Url) -> Result<(), GraphError> {
        if self.followed.insert(self.hasher.hash_one(next.as_str())) {
            Ok(())
        } else {
            Err(self.looped())
        }
    }

    /// The error for a listing that came back to where it was.
    pub(crate) fn looped(&self) -> GraphError {
        GraphError::PagingLoop {
            endpoint: self.endpoint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn a_link_followed_before_is_a_loop_and_the_first_url_counts_as_followed() {
        let first = url("http://graph.test/v1.0/users/delta?$select=id");
        let mut paging = Paging::new(Endpoint::UsersDelta, 10, &first);
        assert!(
            paging
                .follow(&url("http://graph.test/v1.0/users/delta?$skiptoken=a"))
                .is_ok()
        );
        assert!(matches!(
            paging.follow(&url("http://graph.test/v1.0/users/delta?$skiptoken=a")),
            Err(GraphError::PagingLoop {
                endpoint: Endpoint::UsersDelta
            })
        ));
        assert!(matches!(
            paging.follow(&first),
            Err(GraphError::PagingLoop { .. })
        ));
    }

    #[test]
    fn pages_past_the_limit_are_an_error_before_they_are_fetched() {
        let mut paging = Paging::new(
            Endpoint::GroupsDelta,
            3,
            &url("http://graph.test/v1.0/groups/delta"),
        );
        for _ in 0..3 {
            paging.count().expect("within the limit");
        }
        assert!(matches!(
            paging.count(),
            Err(GraphError::TooManyPages {
                endpoint: Endpoint::GroupsDelta,
                limit: 3
            })
        ));
    }
}
