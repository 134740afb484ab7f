//! The AWS Lambda host: the adapter from API Gateway events to the router, the TOKEN authorizer,
//! the keys and secrets read at cold start, and the three roles of one `bootstrap`.

mod adapter;
pub(crate) mod app_secrets;
mod authorizer;
pub(crate) mod keys;
pub(crate) mod roles;
