//! EC2 error codes (`<Errors><Error><Code>`) and HTTP statuses → [`ErrorClass`].

use crate::error::ErrorClass;
use std::time::Duration;

/// The class of an EC2 failure. The cloud's code decides when we know it; otherwise the HTTP
/// status does (429/503 throttled, other 5xx transient, 401/403 auth, other 4xx invalid).
pub fn classify(code: Option<&str>, status: u16, retry_after: Option<Duration>) -> ErrorClass {
    if let Some(class) = code.and_then(|c| classify_code(c, retry_after)) {
        return class;
    }
    match status {
        429 | 503 => ErrorClass::RateLimited { retry_after },
        401 | 403 => ErrorClass::Auth,
        400..=499 => ErrorClass::InvalidRequest,
        _ => ErrorClass::Transient,
    }
}

/// The class of a known EC2 error code, `None` for codes left to the HTTP status.
pub fn classify_code(code: &str, retry_after: Option<Duration>) -> Option<ErrorClass> {
    let class = match code {
        // Throttling first: RequestLimitExceeded would otherwise look like a quota.
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "SlowDown"
        | "BandwidthLimitExceeded" => ErrorClass::RateLimited { retry_after },
        "InstanceLimitExceeded"
        | "VcpuLimitExceeded"
        | "AddressLimitExceeded"
        | "VolumeLimitExceeded"
        | "MaxIOPSLimitExceeded"
        | "MaxSpotInstanceCountExceeded"
        | "ResourceLimitExceeded"
        | "SecurityGroupLimitExceeded"
        | "TagLimitExceeded"
        | "KeyPairLimitExceeded"
        | "NetworkInterfaceLimitExceeded"
        | "InsufficientFreeAddressesInSubnet" => ErrorClass::Quota,
        c if c.ends_with("LimitExceeded") => ErrorClass::Quota,
        c if c.starts_with("Insufficient") && c.ends_with("Capacity") => ErrorClass::Capacity,
        "Unsupported" | "InsufficientCapacity" => {
            // `Unsupported`: the instance type is not offered in this zone: a capacity
            // problem of the partition, not of the request as such.
            ErrorClass::Capacity
        }
        "AuthFailure"
        | "UnauthorizedOperation"
        | "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "OptInRequired"
        | "Blocked"
        | "PendingVerification"
        | "RequestExpired"
        | "AccessDenied"
        | "AccessDeniedException" => ErrorClass::Auth,
        "InvalidInstanceID.NotFound"
        | "InvalidVolume.NotFound"
        | "InvalidAllocationID.NotFound"
        | "InvalidAssociationID.NotFound"
        | "InvalidAddress.NotFound" => ErrorClass::NotFound,
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable" => {
            ErrorClass::Transient
        }
        c if c.starts_with("Invalid")
            || c.starts_with("Missing")
            || c.starts_with("Unknown")
            || c.starts_with("Incorrect")
            || c.starts_with("Malformed")
            || c.ends_with(".Malformed")
            || c.ends_with(".Duplicate")
            || c.starts_with("Unsupported")
            || c == "IdempotentParameterMismatch"
            || c == "ValidationError"
            || c == "DryRunOperation"
            || c == "OperationNotPermitted"
            || c == "DependencyViolation"
            || c == "VolumeInUse" =>
        {
            ErrorClass::InvalidRequest
        }
        _ => return None,
    };
    Some(class)
}

/// `Retry-After` as seconds or an HTTP date; bounded so a hostile value cannot park us.
pub fn parse_retry_after(value: &str, max: Duration) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(max));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(max.as_secs_f64())));
        }
    }
    // HTTP-dates are legal but rare for EC2; treat them as "some time soon".
    if value.contains("GMT") {
        return Some(Duration::from_secs(1).min(max));
    }
    None
}

/// Whether a class is worth retrying for a call that is safe to repeat.
pub fn is_retryable(class: &ErrorClass) -> bool {
    class.is_retryable()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &str, status: u16) -> ErrorClass {
        classify(Some(c), status, None)
    }

    #[test]
    fn codes_map_to_classes() {
        for c in [
            "InstanceLimitExceeded",
            "VcpuLimitExceeded",
            "AddressLimitExceeded",
            "VolumeLimitExceeded",
        ] {
            assert_eq!(code(c, 400), ErrorClass::Quota, "{c}");
        }
        assert_eq!(
            code("InsufficientInstanceCapacity", 500),
            ErrorClass::Capacity
        );
        assert_eq!(
            code("InsufficientAddressCapacity", 400),
            ErrorClass::Capacity
        );
        for c in ["RequestLimitExceeded", "Throttling"] {
            assert_eq!(
                code(c, 400),
                ErrorClass::RateLimited { retry_after: None },
                "{c}"
            );
        }
        for c in [
            "AuthFailure",
            "UnauthorizedOperation",
            "SignatureDoesNotMatch",
        ] {
            assert_eq!(code(c, 400), ErrorClass::Auth, "{c}");
        }
        for c in [
            "InvalidAMIID.NotFound",
            "InvalidAMIID.Malformed",
            "InvalidParameterValue",
            "InvalidKeyPair.NotFound",
            "InvalidGroup.NotFound",
            "InvalidSubnetID.NotFound",
            "MissingParameter",
            "IdempotentParameterMismatch",
        ] {
            assert_eq!(code(c, 400), ErrorClass::InvalidRequest, "{c}");
        }
        assert_eq!(
            code("InvalidInstanceID.NotFound", 400),
            ErrorClass::NotFound
        );
        assert_eq!(code("InvalidVolume.NotFound", 400), ErrorClass::NotFound);
        assert_eq!(code("InternalError", 500), ErrorClass::Transient);
    }

    #[test]
    fn statuses_decide_when_the_code_is_unknown_or_missing() {
        let hint = Some(Duration::from_secs(2));
        assert_eq!(
            classify(None, 503, hint),
            ErrorClass::RateLimited { retry_after: hint }
        );
        assert_eq!(
            classify(Some("Whatever"), 429, None),
            ErrorClass::RateLimited { retry_after: None }
        );
        // A known code wins over the status, and keeps the hint.
        assert_eq!(
            classify(Some("RequestLimitExceeded"), 503, hint),
            ErrorClass::RateLimited { retry_after: hint }
        );
        assert_eq!(
            classify(Some("InstanceLimitExceeded"), 503, hint),
            ErrorClass::Quota
        );
        assert_eq!(classify(None, 500, None), ErrorClass::Transient);
        assert_eq!(classify(None, 502, None), ErrorClass::Transient);
        assert_eq!(classify(Some("Odd"), 500, None), ErrorClass::Transient);
        assert_eq!(classify(None, 403, None), ErrorClass::Auth);
        assert_eq!(classify(None, 404, None), ErrorClass::InvalidRequest);
        assert_eq!(classify(Some("Odd"), 400, None), ErrorClass::InvalidRequest);
    }

    #[test]
    fn retry_after_is_parsed_and_capped() {
        let max = Duration::from_secs(30);
        assert_eq!(parse_retry_after("2", max), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("0.5", max),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_retry_after("99999", max), Some(max));
        assert_eq!(parse_retry_after("soon", max), None);
        assert_eq!(parse_retry_after("-1", max), None);
    }

    #[test]
    fn only_throttling_and_transient_failures_are_retried() {
        assert!(is_retryable(&ErrorClass::Transient));
        assert!(is_retryable(&ErrorClass::RateLimited { retry_after: None }));
        for class in [
            ErrorClass::Quota,
            ErrorClass::Capacity,
            ErrorClass::Auth,
            ErrorClass::InvalidRequest,
            ErrorClass::NotFound,
        ] {
            assert!(!is_retryable(&class), "{class}");
        }
    }
}
