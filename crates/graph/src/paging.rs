//! Paged listings that end: a delta round read a page at a time, and the guard every
//! listing keeps against a server that would have it page forever.
//!
//! Rule a newcomer would otherwise break: a listing never trusts the server to stop. Each
//! page counts against [`crate::Limits::max_pages`], and an `@odata.nextLink` the listing
//! already followed is a loop, not a page to fetch again.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use reqwest::Url;
use serde_json::Value;

use crate::model::collection_items;
use crate::{Client, DeltaPage, Endpoint, GraphError};

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

/// Turns a page's items into changes. A plain function: a page is read on its own, so a
/// round keeps nothing of the pages it handed out.
type ReadPage<T> = fn(Vec<Value>) -> Result<Vec<T>, GraphError>;

/// Where a round stands: the next page to fetch, or the link the round ended with.
enum Position {
    Next(Url),
    End(String),
}

/// One delta round (`/users/delta`, `/groups/delta`), read a page at a time so a caller
/// holds one page of the tenant, never all of it.
///
/// The last page carries the `@odata.deltaLink`; store it only after every page was
/// applied, so a round that fails half-way is read again from the link before it.
pub struct DeltaRound<T> {
    client: Client,
    endpoint: Endpoint,
    position: Position,
    paging: Paging,
    read: ReadPage<T>,
}

impl<T> DeltaRound<T> {
    pub(crate) fn new(
        client: Client,
        endpoint: Endpoint,
        first: Url,
        limit: u32,
        read: ReadPage<T>,
    ) -> DeltaRound<T> {
        DeltaRound {
            paging: Paging::new(endpoint, limit, &first),
            client,
            endpoint,
            position: Position::Next(first),
            read,
        }
    }

    /// The next page's changes; the last page also has the delta link. After the last page
    /// the round is over: every further call gives no changes and the same link.
    ///
    /// After an error the round stays where it was, so calling again asks for the same page.
    pub async fn next_page(&mut self) -> Result<DeltaPage<T>, GraphError> {
        let url = match &self.position {
            Position::End(link) => {
                return Ok(DeltaPage {
                    changes: Vec::new(),
                    delta_link: Some(link.clone()),
                });
            }
            Position::Next(url) => url.clone(),
        };
        self.paging.count()?;
        let page = self.client.delta_page(self.endpoint, url).await?;
        let position = match (page.next_link, page.delta_link) {
            // Followed whole: the link carries the skiptoken and every original parameter.
            (Some(next), _) => {
                let next = self.client.same_origin(&next)?;
                self.paging.follow(&next)?;
                Position::Next(next)
            }
            (None, Some(delta)) => {
                self.client.same_origin(&delta)?;
                Position::End(delta)
            }
            (None, None) => {
                return Err(GraphError::Decode(
                    "delta page with neither @odata.nextLink nor @odata.deltaLink".into(),
                ));
            }
        };
        let changes = (self.read)(collection_items(page.value))?;
        let delta_link = match &position {
            Position::End(link) => Some(link.clone()),
            Position::Next(_) => None,
        };
        self.position = position;
        Ok(DeltaPage {
            changes,
            delta_link,
        })
    }
}

impl<T> std::fmt::Debug for DeltaRound<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the links: they carry the tenant's sync state.
        f.debug_struct("DeltaRound")
            .field("endpoint", &self.endpoint)
            .field("pages", &self.paging.pages)
            .field("ended", &matches!(self.position, Position::End(_)))
            .finish_non_exhaustive()
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
