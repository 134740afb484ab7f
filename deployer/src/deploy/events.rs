//! Follows a stack until it settles, showing each resource as it completes: an indicatif bar on a
//! terminal (done / total, current resource, elapsed), plain lines otherwise. On failure it names
//! the first failed resource, its type and CloudFormation's reason, and waits for the rollback.

use std::{collections::HashSet, time::Duration};

use aws_sdk_cloudformation::{
    Client,
    primitives::DateTime,
    types::{ResourceStatus, StackEvent},
};
use indicatif::{ProgressBar, ProgressStyle};
use miette::miette;

use super::{describe_error, ui::Ui};

/// How a stack operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    /// The final stack status.
    pub(crate) status: String,
    /// First failure: (logical id, type, reason).
    pub(crate) first_failure: Option<(String, String, String)>,
}

impl Finished {
    /// Whether the operation succeeded.
    pub(crate) fn succeeded(&self) -> bool {
        matches!(
            self.status.as_str(),
            "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "DELETE_COMPLETE" | "IMPORT_COMPLETE"
        )
    }
}

fn settled(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

/// Follows `stack_name` from `since` until its status settles. `total` is the number of
/// resources expected to complete (for the bar). `stack_id` identifies the stack through a
/// delete (after which its name no longer resolves).
pub(crate) async fn follow(
    cf: &Client,
    stack_id: &str,
    since: DateTime,
    total: u64,
    ui: &Ui,
) -> miette::Result<Finished> {
    let bar = if ui.interactive {
        let bar = ProgressBar::new(total.max(1));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut first_failure = None;
    loop {
        // Newest first; read pages until we reach events already seen or older than `since`.
        let mut fresh: Vec<StackEvent> = Vec::new();
        let mut token: Option<String> = None;
        'pages: loop {
            let page = cf
                .describe_stack_events()
                .stack_name(stack_id)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| miette!("cannot read the stack's events: {}", describe_error(&e)))?;
            for event in page.stack_events() {
                let id = event.event_id().unwrap_or_default();
                let old = event.timestamp().is_some_and(|t| t.secs() < since.secs());
                if seen.contains(id) || old {
                    break 'pages;
                }
                fresh.push(event.clone());
            }
            match page.next_token() {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        for event in fresh.iter().rev() {
            seen.insert(event.event_id().unwrap_or_default().to_owned());
            let logical = event.logical_resource_id().unwrap_or_default().to_owned();
            let kind = event.resource_type().unwrap_or_default();
            // ResourceStatus has values newer than the SDK's enum (e.g. REVIEW_IN_PROGRESS): print the wire text.
            let status = event
                .resource_status()
                .map(ResourceStatus::as_str)
                .unwrap_or_default();
            let reason = event.resource_status_reason().unwrap_or_default();
            if status.ends_with("_FAILED")
                && first_failure.is_none()
                && kind != "AWS::CloudFormation::Stack"
            {
                first_failure = Some((logical.clone(), kind.to_owned(), reason.to_owned()));
            }
            if status.ends_with("_COMPLETE")
                && !status.contains("ROLLBACK")
                && kind != "AWS::CloudFormation::Stack"
                && done.insert(logical.clone())
            {
                bar.inc(1);
            }
            let time = event
                .timestamp()
                .map(|t| {
                    t.fmt(aws_sdk_cloudformation::primitives::DateTimeFormat::DateTime)
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            let line = format!(
                "{time}  {logical:<32}  {kind:<36}  {status}{}",
                if reason.is_empty() {
                    String::new()
                } else {
                    format!("  ({reason})")
                }
            );
            if ui.interactive {
                bar.set_message(format!("{logical} {status}"));
                if status.ends_with("_FAILED") {
                    bar.println(line);
                }
            } else {
                eprintln!("{line}");
            }
        }
        let described = cf.describe_stacks().stack_name(stack_id).send().await;
        let status = match described {
            Ok(output) => output
                .stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            Err(error) if describe_error(&error).contains("does not exist") => {
                "DELETE_COMPLETE".to_owned()
            }
            Err(error) => return Err(miette!("cannot read the stack: {}", describe_error(&error))),
        };
        if settled(&status) && !status.is_empty() {
            bar.finish_and_clear();
            return Ok(Finished {
                status,
                first_failure,
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
