//! Reading driver properties (`property` elements, merged by the controller), shared by the
//! providers so that every cloud reads names, flags and numbers the same way.

use crate::types::Properties;

/// The first of `names` that is set to something non-blank (drivers accept Stratos' and
/// jclouds' spellings of one setting).
pub(crate) fn prop<'a>(props: &'a Properties, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| props.get(*n))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// `true` (any case) or not; absent: `default`.
pub(crate) fn flag(props: &Properties, name: &str, default: bool) -> bool {
    props
        .get(name)
        .map(|v| v.trim().eq_ignore_ascii_case("true"))
        .unwrap_or(default)
}

/// A whole number; absent or unreadable: `default`.
pub(crate) fn number(props: &Properties, name: &str, default: u64) -> u64 {
    props
        .get(name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The provider's properties overridden by the more specific ones (cartridge, partition).
pub(crate) fn merged(defaults: &Properties, over: &Properties) -> Properties {
    let mut merged = defaults.clone();
    merged.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged
}
