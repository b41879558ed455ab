//! One paging scheme for every list the REST API serves: `limit` (default [`DEFAULT_LIMIT`],
//! at most [`MAX_LIMIT`]; 0 or more is a 400, never silently clamped) and an opaque `cursor`
//! that names where the next page starts.
//!
//! A cursor is a keyset position, not an offset: the last item's sort key, tagged with the list
//! it came from, in URL-safe base64. Rows added or removed between two pages therefore neither
//! repeat nor shift the rest, and a page deep in a long list costs what the first one does.
//! A cursor from another list, or one that does not decode, is a 400.

use crate::error::{ControllerError, Result};
use alto_registry::MemberKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Items per page when the request names no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` a request may ask for.
pub const MAX_LIMIT: usize = 1000;
/// Longest cursor accepted (a member key is about 60 bytes encoded): longer is a 400 before
/// any decoding.
const MAX_CURSOR_CHARS: usize = 1024;

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl PageRequest {
    /// Check `limit` (1..=[`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and the cursor's length.
    pub fn new(limit: Option<usize>, cursor: Option<String>) -> Result<PageRequest> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ControllerError::invalid(format!(
                "limit must be between 1 and {MAX_LIMIT} (got {limit})"
            )));
        }
        let cursor = cursor.filter(|c| !c.is_empty());
        if cursor.as_ref().is_some_and(|c| c.len() > MAX_CURSOR_CHARS) {
            return Err(ControllerError::invalid(format!(
                "cursor is longer than {MAX_CURSOR_CHARS} characters"
            )));
        }
        Ok(PageRequest { limit, cursor })
    }

    /// The key the cursor carries for `list`, if there is a cursor.
    pub fn after(&self, list: CursorList) -> Result<Option<String>> {
        self.cursor.as_deref().map(|c| decode(list, c)).transpose()
    }
}

/// One page and the cursor of the next (`None`: this is the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The list a cursor belongs to; a cursor of one list is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorList {
    Members,
    Clusters,
    Subscriptions,
    Decisions,
    Cartridges,
    AutoscalingPolicies,
    DeploymentPolicies,
    NetworkPartitions,
    ReconcileActions,
}

impl CursorList {
    fn tag(self) -> &'static str {
        match self {
            CursorList::Members => "m",
            CursorList::Clusters => "c",
            CursorList::Subscriptions => "s",
            CursorList::Decisions => "d",
            CursorList::Cartridges => "ct",
            CursorList::AutoscalingPolicies => "ap",
            CursorList::DeploymentPolicies => "dp",
            CursorList::NetworkPartitions => "np",
            CursorList::ReconcileActions => "ra",
        }
    }
}

/// The cursor that starts after `key` in `list`.
pub fn encode(list: CursorList, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{key}", list.tag()))
}

/// The key in a cursor of `list`.
pub fn decode(list: CursorList, cursor: &str) -> Result<String> {
    let invalid = || ControllerError::invalid("cursor is malformed or belongs to another list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (tag, key) = text.split_once(':').ok_or_else(invalid)?;
    if tag != list.tag() {
        return Err(invalid());
    }
    Ok(key.to_string())
}

/// A member's position as a cursor key: `created_at:member_id`.
pub fn member_cursor(key: &MemberKey) -> String {
    encode(
        CursorList::Members,
        &format!("{}:{}", key.created_at, key.member_id),
    )
}

/// The member position in a member cursor.
pub fn member_key(request: &PageRequest) -> Result<Option<MemberKey>> {
    let Some(key) = request.after(CursorList::Members)? else {
        return Ok(None);
    };
    let invalid = || ControllerError::invalid("cursor is malformed or belongs to another list");
    let (created_at, member_id) = key.split_once(':').ok_or_else(invalid)?;
    Ok(Some(MemberKey {
        created_at: created_at.parse().map_err(|_| invalid())?,
        member_id: member_id.to_string(),
    }))
}

/// A numeric key (subscription id, decision sequence number) from a cursor of `list`.
pub fn numeric_key(request: &PageRequest, list: CursorList) -> Result<Option<i64>> {
    request
        .after(list)?
        .map(|key| {
            key.parse().map_err(|_| {
                ControllerError::invalid("cursor is malformed or belongs to another list")
            })
        })
        .transpose()
}

/// A page of a list held in memory in ascending `key` order (definitions, a report's actions):
/// the items after the cursor's key, the same keyset rule as the registry's pages.
pub fn page_sorted<T>(
    items: Vec<T>,
    list: CursorList,
    request: &PageRequest,
    key: impl Fn(&T) -> String,
) -> Result<Paged<T>> {
    let after = request.after(list)?;
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|item| after.as_ref().is_none_or(|a| key(item) > *a))
        .take(request.limit.saturating_add(1))
        .collect();
    let next_cursor = if page.len() > request.limit {
        page.truncate(request.limit);
        page.last().map(|item| encode(list, &key(item)))
    } else {
        None
    };
    Ok(Paged {
        items: page,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert_eq!(PageRequest::new(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(
            PageRequest::new(Some(MAX_LIMIT), None).unwrap().limit,
            MAX_LIMIT
        );
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(MAX_LIMIT + 1), None).is_err());
        assert!(PageRequest::new(None, Some("x".repeat(MAX_CURSOR_CHARS + 1))).is_err());
        assert_eq!(
            PageRequest::new(None, Some(String::new())).unwrap().cursor,
            None
        );
    }

    #[test]
    fn cursors_round_trip_and_stay_in_their_list() {
        let c = encode(CursorList::Clusters, "web.acme:x");
        assert!(!c.contains("web"), "opaque: {c}");
        let request = PageRequest::new(None, Some(c.clone())).unwrap();
        assert_eq!(
            request.after(CursorList::Clusters).unwrap().as_deref(),
            Some("web.acme:x")
        );
        assert!(request.after(CursorList::Members).is_err());
        let garbage = PageRequest::new(None, Some("%%%".into())).unwrap();
        assert!(garbage.after(CursorList::Clusters).is_err());
        let key = MemberKey {
            created_at: 17,
            member_id: "a:b".into(),
        };
        let request = PageRequest::new(None, Some(member_cursor(&key))).unwrap();
        assert_eq!(member_key(&request).unwrap(), Some(key));
        let request = PageRequest::new(None, Some(encode(CursorList::Members, "x:y"))).unwrap();
        assert!(member_key(&request).is_err());
    }

    #[test]
    fn sorted_pages_walk_everything_once() {
        let items: Vec<String> = (0..7).map(|i| format!("id{i}")).collect();
        let mut request = PageRequest::new(Some(3), None).unwrap();
        let mut seen = Vec::new();
        for _ in 0..10 {
            let page = page_sorted(
                items.clone(),
                CursorList::Cartridges,
                &request,
                String::clone,
            )
            .unwrap();
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => request.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, items);
        let exact = PageRequest::new(Some(7), None).unwrap();
        let page = page_sorted(items, CursorList::Cartridges, &exact, String::clone).unwrap();
        assert_eq!((page.items.len(), page.next_cursor), (7, None));
    }
}
