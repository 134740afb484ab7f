//! Change sets: create one for the rendered template, wait for it, show what it changes, and
//! execute or delete it. A change set that would change nothing is reported as "no changes".

use std::time::Duration;

use aws_sdk_cloudformation::{
    Client,
    types::{Capability, Change, ChangeSetStatus, ChangeSetType, Parameter, StackStatus, Tag},
};
use miette::miette;
use serde::Serialize;

use super::describe_error;

/// What the stack looks like before a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Existing {
    /// No stack (or one left in REVIEW_IN_PROGRESS by a change set never executed).
    None,
    /// A stack to update.
    Live,
    /// A stack whose first creation failed and rolled back: it must be deleted first.
    FailedCreation,
}

/// Looks at the stack.
pub(crate) async fn existing(cf: &Client, stack_name: &str) -> miette::Result<Existing> {
    match cf.describe_stacks().stack_name(stack_name).send().await {
        Ok(output) => {
            let status = output
                .stacks()
                .first()
                .and_then(|s| s.stack_status().cloned());
            Ok(match status {
                Some(StackStatus::ReviewInProgress) | None => Existing::None,
                Some(StackStatus::RollbackComplete) => Existing::FailedCreation,
                Some(status) if status.as_str().ends_with("_IN_PROGRESS") => {
                    return Err(miette!(
                        help = "wait for it to finish (or follow it with the AWS console) and run again",
                        "stack {stack_name} is busy: {}",
                        status.as_str()
                    ));
                }
                Some(_) => Existing::Live,
            })
        }
        Err(error) if describe_error(&error).contains("does not exist") => Ok(Existing::None),
        Err(error) => Err(miette!(
            help = "check your credentials and region",
            "cannot read stack {stack_name}: {}",
            describe_error(&error)
        )),
    }
}

/// One row of the diff.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// Add, Modify, Remove, Import, Dynamic.
    pub(crate) action: String,
    /// Logical id.
    pub(crate) logical_id: String,
    /// Resource type.
    pub(crate) resource_type: String,
    /// True, False or Conditional (for Modify).
    pub(crate) replacement: Option<String>,
}

/// A created change set.
#[derive(Debug, Clone)]
pub(crate) struct ChangeSet {
    /// Its name.
    pub(crate) name: String,
    /// The stack.
    pub(crate) stack_name: String,
    /// Its rows; empty means no changes.
    pub(crate) rows: Vec<Row>,
}

fn row(change: &Change) -> Option<Row> {
    let resource = change.resource_change()?;
    Some(Row {
        action: resource
            .action()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        logical_id: resource
            .logical_resource_id()
            .unwrap_or_default()
            .to_owned(),
        resource_type: resource.resource_type().unwrap_or_default().to_owned(),
        replacement: resource.replacement().map(|r| r.as_str().to_owned()),
    })
}

fn is_no_change(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Creates a change set and waits until it is ready. `Ok(None)` means nothing would change (and
/// the empty change set is already deleted).
pub(crate) async fn create(
    cf: &Client,
    name: &str,
    stack_name: &str,
    kind: ChangeSetType,
    template_url: &str,
    parameters: &[(&str, String)],
    stage: &str,
) -> miette::Result<Option<ChangeSet>> {
    let mut request = cf
        .create_change_set()
        .stack_name(stack_name)
        .change_set_name(name)
        .change_set_type(kind)
        .template_url(template_url)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .tags(Tag::builder().key("mcpctl:stage").value(stage).build())
        .description("created by mcpctl");
    for (key, value) in parameters {
        request = request.parameters(
            Parameter::builder()
                .parameter_key(*key)
                .parameter_value(value)
                .build(),
        );
    }
    request.send().await.map_err(|e| {
        miette!(
            help = "the template or a parameter was refused; `mcpctl render` shows the template",
            "CloudFormation refused the change set: {}",
            describe_error(&e)
        )
    })?;
    let mut changes = Vec::new();
    for attempt in 0..600 {
        let described = cf
            .describe_change_set()
            .stack_name(stack_name)
            .change_set_name(name)
            .send()
            .await
            .map_err(|e| miette!("cannot read change set {name}: {}", describe_error(&e)))?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                changes.extend(described.changes().iter().filter_map(row));
                let mut next = described.next_token().map(str::to_owned);
                while let Some(token) = next.take() {
                    let page = cf
                        .describe_change_set()
                        .stack_name(stack_name)
                        .change_set_name(name)
                        .next_token(token)
                        .send()
                        .await
                        .map_err(|e| miette!("{}", describe_error(&e)))?;
                    changes.extend(page.changes().iter().filter_map(row));
                    next = page.next_token().map(str::to_owned);
                }
                return Ok(Some(ChangeSet {
                    name: name.to_owned(),
                    stack_name: stack_name.to_owned(),
                    rows: changes,
                }));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or_default().to_owned();
                delete(cf, stack_name, name).await;
                if is_no_change(&reason) {
                    return Ok(None);
                }
                return Err(miette!(
                    help = "`mcpctl render` shows the template CloudFormation refused",
                    "the change set failed: {reason}"
                ));
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(if attempt < 10 { 300 } else { 2000 }))
                    .await
            }
        }
    }
    delete(cf, stack_name, name).await;
    Err(miette!("the change set was not ready after 20 minutes"))
}

/// A fresh change-set name (chosen before creation, so an interrupted run can delete it).
pub(crate) fn new_name() -> String {
    format!(
        "mcpctl-{}",
        mcpctl_handler::clock::Clock::now(&mcpctl_handler::clock::SystemClock)
    )
}

/// Deletes a change set (best effort: used on the way out, including after Ctrl-C).
pub(crate) async fn delete(cf: &Client, stack_name: &str, name: &str) {
    let _ = cf
        .delete_change_set()
        .stack_name(stack_name)
        .change_set_name(name)
        .send()
        .await;
}

/// Prints the diff as a table on stderr.
pub(crate) fn print(rows: &[Row]) {
    let id_width = rows
        .iter()
        .map(|r| r.logical_id.len())
        .max()
        .unwrap_or(8)
        .max(8);
    eprintln!(
        "{:<8}  {:<id_width$}  {:<40}  replacement",
        "action", "resource", "type"
    );
    for row in rows {
        let replacement = match (row.action.as_str(), row.replacement.as_deref()) {
            ("Modify", Some("True")) => "REPLACED",
            ("Modify", Some("Conditional")) => "maybe replaced",
            ("Modify", _) => "no",
            _ => "",
        };
        eprintln!(
            "{:<8}  {:<id_width$}  {:<40}  {replacement}",
            row.action, row.logical_id, row.resource_type
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_no_change_messages_are_recognised() {
        assert!(is_no_change(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(is_no_change("No updates are to be performed."));
        assert!(!is_no_change("Template format error"));
    }
}
