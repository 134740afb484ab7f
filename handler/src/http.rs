//! The HTTP edge: routes, the bearer guard of `/mcp`, CORS and Origin policy, request logging,
//! HTML pages, and the one mapping from errors to responses.

pub mod consent;
pub mod endpoints;
pub mod error;
pub mod log;
pub mod mcp_guard;
pub mod origin;
pub mod pages;
pub mod routes;
pub mod signin;
