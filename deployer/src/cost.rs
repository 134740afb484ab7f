//! `mcpctl cost`: a monthly estimate of a stage's AWS bill, from its configuration, the template
//! it deploys, and what CloudWatch measured. Each part has one job: the price table, the
//! inventory of the stack, the measurements, and the pure estimate that combines them.

pub(crate) mod estimate;
pub(crate) mod inventory;
pub(crate) mod measure;
pub(crate) mod prices;
