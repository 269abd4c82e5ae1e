//! Every URL of the API, wired in one place.
//!
//! Registration goes through `utoipa-actix-web`, so each route here is also in the OpenAPI
//! document. The RBAC test walks that document: a route added here without a row in the
//! test's expected-permissions table fails the test.

use utoipa::openapi::{
    OpenApi, Ref, RefOr, Required,
    path::Operation,
    response::{Response, ResponseBuilder},
    security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::handlers::{
    admins, audit, auth, health, lifecycle, locations, numbers, ranges, stats, tokens,
};

/// Registers every route of the application.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(
            scope::scope("/api/v1")
                .service(auth::login)
                .service(auth::get_me)
                .service(numbers::list_numbers)
                .service(numbers::create_numbers)
                .service(numbers::get_number)
                .service(numbers::update_number)
                .service(numbers::delete_number)
                .service(numbers::number_history)
                .service(ranges::list_ranges)
                .service(ranges::create_range)
                .service(ranges::get_range)
                .service(ranges::update_range)
                .service(ranges::delete_range)
                .service(locations::list_locations)
                .service(locations::create_location)
                .service(locations::get_location)
                .service(locations::update_location)
                .service(locations::delete_location)
                .service(stats::list_tags)
                .service(stats::get_stats)
                .service(admins::list_admins)
                .service(admins::create_admin)
                .service(admins::get_admin)
                .service(admins::update_admin)
                .service(admins::delete_admin)
                .service(tokens::list_api_tokens)
                .service(tokens::create_api_token)
                .service(tokens::revoke_api_token)
                // lifecycle: number actions, allocations, settings
                .service(lifecycle::assign_number)
                .service(lifecycle::unassign_number)
                .service(lifecycle::reserve_number)
                .service(lifecycle::quarantine_number)
                .service(lifecycle::release_number)
                .service(lifecycle::create_allocation)
                .service(lifecycle::get_settings)
                .service(lifecycle::update_settings)
                // services and directory
                .service(crate::handlers::services::list_services)
                .service(crate::handlers::services::create_service)
                .service(crate::handlers::services::get_service)
                .service(crate::handlers::services::update_service)
                .service(crate::handlers::services::delete_service)
                .service(crate::handlers::directory::list_users)
                .service(crate::handlers::directory::get_user)
                .service(crate::handlers::directory::list_groups)
                .service(audit::list_audit)
                .service(crate::handlers::export::export_numbers)
                .service(crate::handlers::imports::create_import)
                .service(crate::handlers::imports::get_import)
                .service(crate::handlers::imports::apply_import)
                .service(crate::handlers::imports::get_change_set)
                .service(crate::handlers::imports::revert_change_set)
                .service(crate::handlers::events::stream_events),
        );
}

/// The security scheme name every protected operation refers to.
pub const BEARER: &str = "bearer";

/// Conventions applied to the whole document: the bearer scheme, security on every
/// operation that does not opt out, and the error envelope on every error status an
/// operation can answer with.
pub struct Conventions;

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                    .build(),
            )
            .build(),
    )
}

fn add_errors(op: &mut Operation, public: bool, has_body: bool) {
    let mut codes: Vec<(&str, &str)> = vec![
        ("400", "Invalid input; `details.field` names the field"),
        ("404", "Not found, or outside the caller's scope"),
        ("500", "Unexpected error"),
        ("503", "Database unavailable"),
    ];
    if !public || op.operation_id.as_deref() == Some("login") {
        codes.push(("401", "Missing, invalid or expired credentials"));
    }
    if !public {
        codes.extend([
            ("403", "The role or scope does not allow this"),
            ("409", "Conflicts with the current state"),
            ("412", "If-Match is stale"),
        ]);
    }
    if has_body {
        codes.extend([("413", "Body too large"), ("415", "Body is not JSON")]);
    }
    if op.operation_id.as_deref() == Some("login") {
        codes.push((
            "429",
            "Account locked after repeated failures; see Retry-After",
        ));
    }
    for (code, description) in codes {
        op.responses
            .responses
            .entry(code.to_string())
            .or_insert_with(|| error_response(description));
    }
}

impl utoipa::Modify for Conventions {
    fn modify(&self, api: &mut OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT from POST /api/v1/auth/login, or an API token (tst_…)")
                    .build(),
            ),
        );
        if !components.schemas.contains_key("ErrorBody") {
            use utoipa::{PartialSchema, ToSchema};
            let mut schemas = Vec::new();
            api_types::ErrorBody::schemas(&mut schemas);
            components
                .schemas
                .insert("ErrorBody".into(), api_types::ErrorBody::schema());
            components.schemas.extend(schemas);
        }
        for item in api.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                // `security(())` on a handler marks it public; everything else needs the bearer.
                let public = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if !public {
                    op.security =
                        Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
                }
                let has_body = matches!(&op.request_body, Some(RefOr::T(b)) if b.required != Some(Required::False));
                add_errors(op, public, has_body);
            }
        }
    }
}
