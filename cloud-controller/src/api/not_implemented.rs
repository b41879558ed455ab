//! Stratos 4.1's composite applications — `/api/applications`, `/api/cartridgeGroups`,
//! `/api/applicationPolicies` and everything below them — are not implemented. Their routes
//! answer 501 with a body naming the missing feature (to an authenticated caller), so a 4.1
//! client learns what is missing instead of getting a 404 that looks like a wrong URL.

use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

/// The 501 for `feature` at this request's method and path.
fn answer(feature: &str, req: &HttpRequest) -> HttpResponse {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "{feature} (Stratos 4.1 composite applications) are not implemented: {} {} is not \
             served; deploy cartridges and policies and subscribe with POST /api/subscriptions \
             instead",
            req.method(),
            req.path()
        ),
    )
    .error_response()
}

/// One documented operation answering 501 for `$feature`. (`$rest`: the path has a `{rest}`
/// parameter, everything below the collection.)
macro_rules! not_implemented {
    ($name:ident, $method:ident, $path:literal, $op:literal, $feature:literal) => {
        #[utoipa::path(
            $method,
            path = $path,
            tag = "not-implemented",
            summary = "Not implemented (Stratos 4.1 composite applications)",
            operation_id = $op,
            responses(
                (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
                (status = 501, description = "Not implemented; the message names the missing feature", body = ErrorBody)
            ),
            security(("basic" = []))
        )]
        pub async fn $name(_caller: Caller, req: HttpRequest) -> HttpResponse {
            answer($feature, &req)
        }
    };
    ($name:ident, $method:ident, $path:literal, $op:literal, $feature:literal, rest) => {
        #[utoipa::path(
            $method,
            path = $path,
            tag = "not-implemented",
            summary = "Not implemented (Stratos 4.1 composite applications)",
            operation_id = $op,
            params(("rest" = String, Path, description = "Anything below the collection (an id, `id/deploy/policy`, ...)")),
            responses(
                (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
                (status = 501, description = "Not implemented; the message names the missing feature", body = ErrorBody)
            ),
            security(("basic" = []))
        )]
        pub async fn $name(_caller: Caller, req: HttpRequest) -> HttpResponse {
            answer($feature, &req)
        }
    };
}

not_implemented!(
    applications_get,
    get,
    "/api/applications",
    "listApplications",
    "applications"
);
not_implemented!(
    applications_post,
    post,
    "/api/applications",
    "addApplication",
    "applications"
);
not_implemented!(
    applications_put,
    put,
    "/api/applications",
    "updateApplication",
    "applications"
);
not_implemented!(
    applications_delete,
    delete,
    "/api/applications",
    "deleteApplications",
    "applications"
);
not_implemented!(
    application_get,
    get,
    "/api/applications/{rest}",
    "getApplication",
    "applications",
    rest
);
not_implemented!(
    application_post,
    post,
    "/api/applications/{rest}",
    "postApplicationResource",
    "applications",
    rest
);
not_implemented!(
    application_put,
    put,
    "/api/applications/{rest}",
    "putApplicationResource",
    "applications",
    rest
);
not_implemented!(
    application_delete,
    delete,
    "/api/applications/{rest}",
    "removeApplication",
    "applications",
    rest
);

not_implemented!(
    groups_get,
    get,
    "/api/cartridgeGroups",
    "listCartridgeGroups",
    "cartridge groups"
);
not_implemented!(
    groups_post,
    post,
    "/api/cartridgeGroups",
    "addCartridgeGroup",
    "cartridge groups"
);
not_implemented!(
    groups_put,
    put,
    "/api/cartridgeGroups",
    "updateCartridgeGroup",
    "cartridge groups"
);
not_implemented!(
    groups_delete,
    delete,
    "/api/cartridgeGroups",
    "deleteCartridgeGroups",
    "cartridge groups"
);
not_implemented!(
    group_get,
    get,
    "/api/cartridgeGroups/{rest}",
    "getCartridgeGroup",
    "cartridge groups",
    rest
);
not_implemented!(
    group_post,
    post,
    "/api/cartridgeGroups/{rest}",
    "postCartridgeGroupResource",
    "cartridge groups",
    rest
);
not_implemented!(
    group_put,
    put,
    "/api/cartridgeGroups/{rest}",
    "putCartridgeGroupResource",
    "cartridge groups",
    rest
);
not_implemented!(
    group_delete,
    delete,
    "/api/cartridgeGroups/{rest}",
    "removeCartridgeGroup",
    "cartridge groups",
    rest
);

not_implemented!(
    app_policies_get,
    get,
    "/api/applicationPolicies",
    "listApplicationPolicies",
    "application policies"
);
not_implemented!(
    app_policies_post,
    post,
    "/api/applicationPolicies",
    "addApplicationPolicy",
    "application policies"
);
not_implemented!(
    app_policies_put,
    put,
    "/api/applicationPolicies",
    "updateApplicationPolicy",
    "application policies"
);
not_implemented!(
    app_policies_delete,
    delete,
    "/api/applicationPolicies",
    "deleteApplicationPolicies",
    "application policies"
);
not_implemented!(
    app_policy_get,
    get,
    "/api/applicationPolicies/{rest}",
    "getApplicationPolicy",
    "application policies",
    rest
);
not_implemented!(
    app_policy_post,
    post,
    "/api/applicationPolicies/{rest}",
    "postApplicationPolicyResource",
    "application policies",
    rest
);
not_implemented!(
    app_policy_put,
    put,
    "/api/applicationPolicies/{rest}",
    "putApplicationPolicyResource",
    "application policies",
    rest
);
not_implemented!(
    app_policy_delete,
    delete,
    "/api/applicationPolicies/{rest}",
    "removeApplicationPolicy",
    "application policies",
    rest
);
