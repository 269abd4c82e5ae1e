//! Turning delta pages into changes: `@removed` entries, a group's sightings on one page
//! merged, and a group sighted without fields (a member chunk) told apart from an update.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::GraphError;
use crate::model::{Group, GroupChange, User, UserChange};

/// Error codes that mean the stored delta token cannot be used any more.
const EXPIRED_TOKEN_CODES: [&str; 2] = ["syncStateNotFound", "resyncRequired"];

/// The member type whose ids the inventory wants; other directory objects are skipped.
const USER_TYPE: &str = "#microsoft.graph.user";

/// One page of a delta (or any OData collection) response.
#[derive(Deserialize)]
pub(crate) struct Page {
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
}

/// Whether an error answer to a delta request means "start again with a full sync".
///
/// 410 Gone is the documented signal; the codes are listed in errors.md; the status for an
/// expired token is undocumented, so a 400 whose code or message names the token counts too.
pub(crate) fn is_delta_expired(status: u16, code: &str, message: &str) -> bool {
    status == 410
        || EXPIRED_TOKEN_CODES
            .iter()
            .any(|c| c.eq_ignore_ascii_case(code))
        || (status == 400
            && [code, message]
                .iter()
                .any(|s| s.to_ascii_lowercase().contains("token")))
}

/// `Some(permanent)` when the item carries `@removed`: reason "deleted" is permanent,
/// "changed" (a soft delete, restorable for 30 days) is not.
fn removed(item: &Value) -> Option<bool> {
    let removed = item.get("@removed")?;
    Some(removed.get("reason").and_then(Value::as_str) == Some("deleted"))
}

fn id_of(item: &Value, what: &str) -> Result<String, GraphError> {
    item.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| GraphError::Decode(format!("{what} without an id")))
}

/// Parses the items of one `/users/delta` page.
pub(crate) fn user_changes(items: Vec<Value>) -> Result<Vec<UserChange>, GraphError> {
    items.into_iter().map(user_change).collect()
}

/// Parses one item of `/users/delta`.
fn user_change(item: Value) -> Result<UserChange, GraphError> {
    if let Some(permanent) = removed(&item) {
        return Ok(UserChange::Removed {
            id: id_of(&item, "removed user")?,
            permanent,
        });
    }
    let user: User =
        serde_json::from_value(item).map_err(|e| GraphError::Decode(format!("user: {e}")))?;
    Ok(UserChange::Upsert(user))
}

/// Parses the items of one `/groups/delta` page: one change per group.
///
/// A large group's membership arrives in chunks, the group repeated on several pages in no
/// particular order, and a repeat may carry only the id and a member chunk. A group always
/// has a display name, and Graph sends every selected field but those never set, so a
/// sighting with no field at all is [`GroupChange::Members`]: it must not clear the
/// group's name. Each chunk is a delta of its own, so pages can be applied as they come.
pub(crate) fn group_changes(items: Vec<Value>) -> Result<Vec<GroupChange>, GraphError> {
    let mut merger = GroupMerger::default();
    for item in items {
        merger.add(item)?;
    }
    Ok(merger.finish().into_iter().map(fields_or_members).collect())
}

fn fields_or_members(change: GroupChange) -> GroupChange {
    match change {
        GroupChange::Upsert {
            group,
            members_added,
            members_removed,
        } if group.display_name.is_none()
            && group.description.is_none()
            && group.mail.is_none() =>
        {
            GroupChange::Members {
                id: group.id,
                members_added,
                members_removed,
            }
        }
        other => other,
    }
}

/// Collects one page's `/groups/delta` items into one change per group, keyed by id: a
/// page may carry several chunks of one group.
#[derive(Default)]
struct GroupMerger {
    changes: Vec<GroupChange>,
    by_id: HashMap<String, usize>,
}

impl GroupMerger {
    /// Adds one item of a page.
    pub fn add(&mut self, item: Value) -> Result<(), GraphError> {
        let id = id_of(&item, "group")?;
        let change = match removed(&item) {
            Some(permanent) => GroupChange::Removed {
                id: id.clone(),
                permanent,
            },
            None => {
                let (members_added, members_removed) = members(&item);
                let group: Group = serde_json::from_value(item)
                    .map_err(|e| GraphError::Decode(format!("group: {e}")))?;
                GroupChange::Upsert {
                    group,
                    members_added,
                    members_removed,
                }
            }
        };
        match self.by_id.get(&id) {
            Some(&at) => merge(&mut self.changes[at], change),
            None => {
                self.by_id.insert(id, self.changes.len());
                self.changes.push(change);
            }
        }
        Ok(())
    }

    /// The merged changes, in the order each group first appeared.
    pub fn finish(self) -> Vec<GroupChange> {
        self.changes
    }
}

/// The user ids added and removed in an item's `members@delta`.
fn members(item: &Value) -> (Vec<String>, Vec<String>) {
    let mut added = Vec::new();
    let mut gone = Vec::new();
    let entries = item
        .get("members@delta")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for member in entries {
        let is_user = member
            .get("@odata.type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case(USER_TYPE));
        let Some(id) = member.get("id").and_then(Value::as_str).filter(|_| is_user) else {
            continue;
        };
        let list = if removed(member).is_some() {
            &mut gone
        } else {
            &mut added
        };
        if !list.iter().any(|known| known == id) {
            list.push(id.to_owned());
        }
    }
    (added, gone)
}

/// Folds a later sighting of a group into the earlier one.
fn merge(into: &mut GroupChange, later: GroupChange) {
    match (into, later) {
        (
            GroupChange::Upsert {
                group,
                members_added,
                members_removed,
            },
            GroupChange::Upsert {
                group: newer,
                members_added: added,
                members_removed: gone,
            },
        ) => {
            // A repeated sighting may carry only the id and a member chunk.
            group.display_name = newer.display_name.or(group.display_name.take());
            group.description = newer.description.or(group.description.take());
            group.mail = newer.mail.or(group.mail.take());
            extend_unique(members_added, added);
            extend_unique(members_removed, gone);
        }
        // A deletion and an upsert of the same group on one page: the later word wins.
        (slot, later) => *slot = later,
    }
}

fn extend_unique(list: &mut Vec<String>, more: Vec<String>) {
    for id in more {
        if !list.contains(&id) {
            list.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removed_users_are_permanent_only_for_reason_deleted() {
        let gone = user_change(json!({"id": "a", "@removed": {"reason": "deleted"}}));
        let soft = user_change(json!({"id": "b", "@removed": {"reason": "changed"}}));
        assert_eq!(
            gone.ok(),
            Some(UserChange::Removed {
                id: "a".into(),
                permanent: true
            })
        );
        assert_eq!(
            soft.ok(),
            Some(UserChange::Removed {
                id: "b".into(),
                permanent: false
            })
        );
    }

    #[test]
    fn a_groups_member_chunks_merge_into_one_change_and_non_users_are_skipped() {
        let mut merger = GroupMerger::default();
        let first = json!({"id": "g", "displayName": "Sales", "members@delta": [
            {"@odata.type": "#microsoft.graph.user", "id": "u1"},
            {"@odata.type": "#microsoft.graph.group", "id": "nested"},
        ]});
        let other = json!({"id": "h", "displayName": "Other"});
        let second = json!({"id": "g", "members@delta": [
            {"@odata.type": "#microsoft.graph.user", "id": "u2"},
            {"@odata.type": "#microsoft.graph.user", "id": "u3", "@removed": {"reason": "deleted"}},
        ]});
        for item in [first, other, second] {
            merger.add(item).expect("adds");
        }
        let changes = merger.finish();
        assert_eq!(changes.len(), 2);
        let GroupChange::Upsert {
            group,
            members_added,
            members_removed,
        } = &changes[0]
        else {
            panic!("not an upsert");
        };
        assert_eq!(group.display_name.as_deref(), Some("Sales"));
        assert_eq!(members_added, &["u1", "u2"]);
        assert_eq!(members_removed, &["u3"]);
    }

    #[test]
    fn a_sighting_without_fields_is_a_membership_change_not_an_upsert() {
        let user = |id: &str| json!({"@odata.type": "#microsoft.graph.user", "id": id});
        let changes = group_changes(vec![
            json!({"id": "g", "members@delta": [user("u1")]}),
            json!({"id": "h", "displayName": "Support", "members@delta": [user("u2")]}),
            // Merged with the sighting above on the same page: it has fields.
            json!({"id": "h", "members@delta": [user("u3")]}),
        ])
        .expect("page");

        assert_eq!(
            changes[0],
            GroupChange::Members {
                id: "g".into(),
                members_added: vec!["u1".into()],
                members_removed: vec![],
            }
        );
        let GroupChange::Upsert {
            group,
            members_added,
            ..
        } = &changes[1]
        else {
            panic!("a sighting with fields is an upsert: {:?}", changes[1]);
        };
        assert_eq!(group.display_name.as_deref(), Some("Support"));
        assert_eq!(members_added, &["u2", "u3"]);
    }

    #[test]
    fn expired_tokens_are_recognised_by_status_code_or_a_400_naming_the_token() {
        assert!(is_delta_expired(410, "", ""));
        assert!(is_delta_expired(400, "syncStateNotFound", "x"));
        assert!(is_delta_expired(
            400,
            "Request_BadRequest",
            "Invalid delta token."
        ));
        assert!(!is_delta_expired(
            400,
            "Request_BadRequest",
            "Invalid filter clause"
        ));
        assert!(!is_delta_expired(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges"
        ));
    }
}
