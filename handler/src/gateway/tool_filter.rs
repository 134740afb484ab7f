//! The allow-list applied to a `tools/list` answer, in either form Streamable HTTP allows: one
//! JSON object, or an SSE stream whose `data:` events carry JSON-RPC messages.

use std::collections::BTreeSet;

use serde_json::Value;

/// `body` with every tool not in `exposed` taken out of `result.tools`; `None` when the body is
/// not JSON-RPC at all (the caller refuses it rather than pass on what it could not filter).
pub(super) fn filter_tools_list(
    body: &[u8],
    content_type: &str,
    exposed: &BTreeSet<String>,
) -> Option<Vec<u8>> {
    if content_type.starts_with("text/event-stream") {
        filter_sse(body, exposed)
    } else {
        filter_json(body, exposed)
    }
}

/// The message with its tool list filtered (unchanged when it lists none, e.g. an error);
/// `None` when it is not a JSON object.
fn filter_json(message: &[u8], exposed: &BTreeSet<String>) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(message).ok()?;
    if !value.is_object() {
        return None;
    }
    if let Some(tools) = value
        .get_mut("result")
        .and_then(|r| r.get_mut("tools"))
        .and_then(Value::as_array_mut)
    {
        tools.retain(|tool| {
            tool.get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| exposed.contains(name))
        });
    }
    serde_json::to_vec(&value).ok()
}

/// An SSE stream with each event's data filtered; `None` if an event's data is not a JSON-RPC
/// message. Events are separated by a blank line, and an event's data is its `data:` lines
/// joined with newlines (WHATWG HTML §9.2.6).
fn filter_sse(body: &[u8], exposed: &BTreeSet<String>) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    for event in text.split_inclusive("\n\n") {
        let mut data: Vec<&str> = Vec::new();
        for line in event.lines() {
            match line.strip_prefix("data:") {
                Some(value) => data.push(value.strip_prefix(' ').unwrap_or(value)),
                None if line.is_empty() => {}
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        if !data.is_empty() {
            let json = filter_json(data.join("\n").as_bytes(), exposed)?;
            out.push_str("data: ");
            out.push_str(std::str::from_utf8(&json).ok()?);
            out.push('\n');
        }
        out.push('\n');
    }
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed() -> BTreeSet<String> {
        ["echo".to_owned()].into()
    }

    const LIST: &str =
        r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"},{"name":"drop_tables"}]}}"#;

    #[test]
    fn a_json_answer_keeps_only_exposed_tools() {
        let out = filter_tools_list(LIST.as_bytes(), "application/json", &exposed()).unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value["result"]["tools"],
            serde_json::json!([{"name":"echo"}])
        );
        assert_eq!(value["id"], 2);
    }

    #[test]
    fn an_sse_answer_keeps_its_other_events_and_fields() {
        let body = format!(
            "event: message\r\nid: 7\r\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{{}}}}\r\n\r\nevent: message\r\ndata: {LIST}\r\n\r\n"
        );
        let out = String::from_utf8(
            filter_tools_list(body.as_bytes(), "text/event-stream", &exposed()).unwrap(),
        )
        .unwrap();
        assert!(out.contains("notifications/message"), "{out}");
        assert!(out.contains("id: 7"), "{out}");
        assert!(out.contains("\"echo\""), "{out}");
        assert!(!out.contains("drop_tables"), "{out}");
    }

    #[test]
    fn data_split_over_lines_is_read_as_one_message() {
        let body = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"tools\":[{\"name\":\"drop_tables\"}]}}\n\n";
        let out = String::from_utf8(
            filter_tools_list(body.as_bytes(), "text/event-stream", &exposed()).unwrap(),
        )
        .unwrap();
        assert!(!out.contains("drop_tables"), "{out}");
        assert!(out.contains("\"tools\":[]"), "{out}");
    }

    #[test]
    fn an_error_passes_and_anything_unreadable_is_refused() {
        let error = br#"{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no"}}"#;
        let passed: Value = serde_json::from_slice(
            &filter_tools_list(error, "application/json", &exposed()).unwrap(),
        )
        .unwrap();
        assert_eq!(passed["error"]["code"], -32601);
        for (body, content_type) in [
            (&b"not json"[..], "application/json"),
            (
                br#"[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"drop_tables"}]}}]"#,
                "application/json",
            ),
            (b"data: not json\n\n", "text/event-stream"),
            (b"data: [1]\n\n", "text/event-stream"),
        ] {
            assert!(
                filter_tools_list(body, content_type, &exposed()).is_none(),
                "{body:?}"
            );
        }
    }
}
