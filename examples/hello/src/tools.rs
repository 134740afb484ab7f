//! One tool per file, each with its own `#[tool_router(router = <name>_router)]` block; the
//! server sums the routers.

mod add;
mod count;
mod echo;
mod whoami;
