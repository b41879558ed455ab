//! CloudStack error codes → [`ErrorClass`].
//!
//! CloudStack answers a failed call with an HTTP status equal to its `errorcode` and a body
//! `{"<command>response": {"errorcode": 431, "cserrorcode": 4350, "errortext": "..."}}`; a
//! failed async job reports the same pair inside `jobresult`. The table (also in
//! docs/CLOUDS.md):
//!
//! | errorcode | text | class |
//! | --- | --- | --- |
//! | any | mentions a limit/quota (`limit`, `quota`, `exceeded`) | Quota |
//! | any | mentions capacity (`insufficient capacity`, `no suitable host`, ...) | Capacity |
//! | 401, 432 | | Auth |
//! | 429 | | RateLimited |
//! | 431 | `does not exist` / `unable to find` on a delete | NotFound |
//! | 431, 436, 437 | | InvalidRequest |
//! | 535 | | Quota (`RESOURCE_ALLOCATION_ERROR`: account/domain resource limits) |
//! | 533 | | Capacity (`INSUFFICIENT_CAPACITY_ERROR`) |
//! | 530, 534, other 5xx | | Transient |
//! | other 4xx | | InvalidRequest |

use crate::error::{ErrorClass, IaasError};

/// What kind of call failed: deciding NotFound vs InvalidRequest for 431 depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Read,
    Create,
    Delete,
}

/// Longest cloud message we keep (bodies can be long HTML pages from a proxy).
const MAX_MESSAGE: usize = 400;

pub(crate) fn truncate(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The class of a CloudStack `errorcode` with its `errortext`.
pub fn classify(errorcode: u16, errortext: &str, kind: CallKind) -> ErrorClass {
    let text = errortext.to_ascii_lowercase();
    let mentions_quota = text.contains("limit")
        || text.contains("quota")
        || text.contains("exceeded")
        || text.contains("maximum number");
    let mentions_capacity = text.contains("insufficient capacity")
        || text.contains("insufficientservercapacity")
        || text.contains("no suitable host")
        || text.contains("unable to create a deployment");
    let mentions_missing = text.contains("does not exist")
        || text.contains("unable to find")
        || text.contains("not found")
        || text.contains("entity does not exist");
    match errorcode {
        401 | 432 => ErrorClass::Auth,
        429 => ErrorClass::RateLimited { retry_after: None },
        535 => ErrorClass::Quota,
        _ if mentions_quota && !text.contains("rate limit") => ErrorClass::Quota,
        _ if text.contains("rate limit") || text.contains("too many requests") => {
            ErrorClass::RateLimited { retry_after: None }
        }
        _ if mentions_capacity => ErrorClass::Capacity,
        533 => ErrorClass::Capacity,
        431 if kind == CallKind::Delete && mentions_missing => ErrorClass::NotFound,
        400..=499 => ErrorClass::InvalidRequest,
        _ => ErrorClass::Transient,
    }
}

/// A CloudStack error as an [`IaasError`]; keeps the cloud's code and (truncated) text.
pub fn cloud_error(
    provider_type: &str,
    operation: &'static str,
    kind: CallKind,
    errorcode: u16,
    errortext: &str,
) -> IaasError {
    IaasError::new(
        provider_type,
        operation,
        classify(errorcode, errortext, kind),
        truncate(errortext),
    )
    .with_code(errorcode.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use CallKind::*;
        assert_eq!(
            classify(431, "Unable to find service offering: 104", Create),
            ErrorClass::InvalidRequest
        );
        assert_eq!(
            classify(
                431,
                "Unable to execute API command destroyvirtualmachine due to invalid value. \
                 Invalid parameter id value=x due to incorrect long value format, or entity does \
                 not exist",
                Delete
            ),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(401, "unable to verify user credentials", Read),
            ErrorClass::Auth
        );
        assert_eq!(classify(432, "", Read), ErrorClass::Auth);
        assert_eq!(
            classify(
                535,
                "Maximum number of resources of type 'user_vm' for account name=a exceeded",
                Create
            ),
            ErrorClass::Quota
        );
        assert_eq!(
            classify(
                530,
                "The maximum number of VMs for this account has been exceeded",
                Create
            ),
            ErrorClass::Quota
        );
        assert_eq!(
            classify(530, "Internal error executing command", Create),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(530, "Insufficient capacity to deploy", Create),
            ErrorClass::Capacity
        );
        assert_eq!(classify(533, "", Create), ErrorClass::Capacity);
        assert_eq!(
            classify(429, "", Read),
            ErrorClass::RateLimited { retry_after: None }
        );
    }

    #[test]
    fn long_texts_are_cut_on_a_char_boundary() {
        let long = "é".repeat(500);
        let cut = truncate(&long);
        assert!(cut.len() <= MAX_MESSAGE + 3 && cut.ends_with("..."));
    }
}
