//! The one module that touches `serde_yaml`.
//!
//! `serde_yaml` is archived upstream (`0.9.34+deprecated`) but sound, and it keeps CloudFormation's
//! short-form intrinsics (`!Ref`, `!Sub`, `!GetAtt`, ...) as tagged values, which is what the
//! renderer needs. Keeping it behind this module makes a move to `serde_yaml_ng` (the maintained
//! drop-in) a one-file change. Never use the `serde_yml` fork (RUSTSEC-2025-0067/0068).

use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};

pub(crate) use serde_yaml::{Mapping, Value};

/// A YAML syntax or shape error, with the path of the offending field and its line when known.
#[derive(Debug)]
pub(crate) struct YamlError(serde_yaml::Error);

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Parses a document into a typed value (`deny_unknown_fields` and friends apply).
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(text).map_err(YamlError)
}

/// Writes a value as a YAML document (see [`emit`]).
pub(crate) fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    Ok(emit(&to_value(value)?))
}

/// Converts a typed value into an untyped one.
pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<Value, YamlError> {
    serde_yaml::to_value(value).map_err(YamlError)
}

/// A CloudFormation short-form intrinsic such as `!Ref Name`, with `name` without the `!`.
pub(crate) fn tagged(name: &str, value: Value) -> Value {
    Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
        tag: serde_yaml::value::Tag::new(name),
        value,
    }))
}

/// The tag name (without `!`) and the inner value of a tagged value.
pub(crate) fn as_tagged(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        _ => None,
    }
}

/// A string value.
pub(crate) fn string(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

/// `!Ref name`.
pub(crate) fn reference(name: &str) -> Value {
    tagged("Ref", string(name))
}

/// The JSON form of a template value: CloudFormation's JSON has no tags, so each short-form
/// intrinsic becomes its long form (`!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` →
/// `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` → `{"Fn::Sub": s}`).
pub(crate) fn to_cloudformation_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
        Value::String(s) => Json::String(s.clone()),
        Value::Sequence(items) => Json::Array(items.iter().map(to_cloudformation_json).collect()),
        Value::Mapping(mapping) => Json::Object(
            mapping
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        Value::String(s) => s.clone(),
                        other => emit(other).trim_end().to_owned(),
                    };
                    (key, to_cloudformation_json(value))
                })
                .collect(),
        ),
        Value::Tagged(tagged) => {
            let name = tagged.tag.to_string().trim_start_matches('!').to_owned();
            let inner = match (&*name, &tagged.value) {
                ("GetAtt", Value::String(path)) => match path.split_once('.') {
                    Some((resource, attribute)) => serde_json::json!([resource, attribute]),
                    None => Json::String(path.clone()),
                },
                (_, inner) => to_cloudformation_json(inner),
            };
            let key = match &*name {
                "Ref" | "Condition" => name,
                _ => format!("Fn::{name}"),
            };
            serde_json::json!({ key: inner })
        }
    }
}

// ---- the emitter ----
//
// serde_yaml writes `2012-10-17` and `on` as plain scalars: strings in YAML 1.2, but a date and a
// boolean to YAML 1.1 readers (PyYAML, which moto, cfn-lint and checkov use). This emitter writes
// block-style YAML that reads the same in both: a string is plain only when it starts with a
// letter (or `/`, `$`, `_`) and cannot be taken for anything else; every other string is quoted.
// Tests check that every rendered template reads back to the same value.

/// Writes `value` as a block-style YAML document that YAML 1.1 and 1.2 readers parse alike.
pub(crate) fn emit(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Mapping(mapping) if !mapping.is_empty() => emit_mapping(mapping, 0, false, &mut out),
        Value::Sequence(items) if !items.is_empty() => emit_sequence(items, 0, &mut out),
        other => {
            out.push_str(&inline(other, false).unwrap_or_else(|| "null".into()));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, width: usize) {
    out.extend(std::iter::repeat_n(' ', width));
}

/// Writes the entries of a mapping at `width`; with `after_dash` the first entry continues the
/// line of a sequence item's `- `.
fn emit_mapping(mapping: &Mapping, width: usize, after_dash: bool, out: &mut String) {
    for (index, (key, value)) in mapping.iter().enumerate() {
        if !(after_dash && index == 0) {
            indent(out, width);
        }
        out.push_str(&inline(key, false).unwrap_or_else(|| "null".into()));
        out.push(':');
        emit_node(value, width, out);
    }
}

fn emit_sequence(items: &[Value], width: usize, out: &mut String) {
    for item in items {
        indent(out, width);
        out.push('-');
        match item {
            Value::Mapping(mapping) if !mapping.is_empty() => {
                out.push(' ');
                emit_mapping(mapping, width + 2, true, out);
            }
            other => emit_node(other, width, out),
        }
    }
}

/// Writes what follows `key:` or `-`: an inline value, or a nested block indented under `width`.
fn emit_node(value: &Value, width: usize, out: &mut String) {
    if let Some(text) = inline(value, false) {
        out.push(' ');
        out.push_str(&text);
        out.push('\n');
        return;
    }
    match value {
        Value::Mapping(mapping) => {
            out.push('\n');
            emit_mapping(mapping, width + 2, false, out);
        }
        Value::Sequence(items) => {
            out.push('\n');
            emit_sequence(items, width + 2, out);
        }
        Value::Tagged(tagged) => {
            out.push(' ');
            out.push_str(&tagged.tag.to_string());
            emit_node(&tagged.value, width, out);
        }
        // Scalars always have an inline form.
        _ => out.push('\n'),
    }
}

/// The one-line form of a value, if it has a short one: scalars, empty collections, and tagged
/// scalars or short flow sequences of those (`!Equals [!Ref Name, ""]`).
fn inline(value: &Value, flow: bool) -> Option<String> {
    match value {
        Value::Null => Some("null".into()),
        Value::Bool(value) => Some(value.to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) => Some(scalar(text, flow)),
        Value::Mapping(mapping) if mapping.is_empty() => Some("{}".into()),
        Value::Sequence(items) if items.is_empty() => Some("[]".into()),
        Value::Tagged(tagged) => {
            let inner = match &tagged.value {
                Value::Sequence(items) => {
                    let parts: Option<Vec<String>> = items
                        .iter()
                        .map(|item| match item {
                            Value::Sequence(_) | Value::Mapping(_) => None,
                            other => inline(other, true),
                        })
                        .collect();
                    format!("[{}]", parts?.join(", "))
                }
                Value::Mapping(_) => return None,
                other => inline(other, flow)?,
            };
            let text = format!("{} {inner}", tagged.tag);
            (text.len() <= 100).then_some(text)
        }
        Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

/// A string scalar: plain when no YAML 1.1 or 1.2 reader can take it for something else.
fn scalar(text: &str, flow: bool) -> String {
    if is_plain_safe(text, flow) {
        return text.to_owned();
    }
    let control = text.chars().any(char::is_control);
    let singles = text.matches('\'').count();
    let doubles = text.matches('"').count() + text.matches('\\').count();
    if !control && singles <= doubles {
        return format!("'{}'", text.replace('\'', "''"));
    }
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn is_plain_safe(text: &str, flow: bool) -> bool {
    // YAML 1.1 booleans and nulls (PyYAML), and 1.2's.
    const RESERVED: [&str; 14] = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf", "~", "=", "<<",
    ];
    let Some(first) = text.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || matches!(first, '/' | '$' | '_'))
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str())
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        && !(flow && text.contains([',', '[', ']', '{', '}']))
}

/// A string or a list of strings (as IAM and CloudFormation write `Action`, `DependsOn`, ...),
/// read as a list.
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_a_yaml_1_1_reader_would_retype_are_quoted() {
        for text in [
            "2012-10-17",
            "on",
            "Off",
            "yes",
            "N",
            "~",
            "null",
            "true",
            "1",
            "0.5",
            ".inf",
            "-1",
            "+1",
            "0x1F",
            "1_000",
            "12:30",
            "",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "#x",
            "*x",
            "&x",
            "!x",
            "%x",
            "@x",
            "`x",
            "[x]",
            "{x}",
            "- x",
            "? x",
            "| x",
            "> x",
            "'x'",
            "\"x\"",
            "<<",
            "=",
            "line\nbreak",
            "tab\there",
            "é",
        ] {
            let emitted = scalar(text, false);
            assert_ne!(emitted, text, "{text:?} must be quoted");
            let parsed: Value = from_str(&format!("key: {emitted}\n")).unwrap();
            assert_eq!(parsed["key"], text, "{text:?} emitted as {emitted}");
        }
        for text in [
            "arm64",
            "AWS::DynamoDB::Table",
            "${AWS::StackName}-api",
            "/aws/lambda/x",
        ] {
            assert_eq!(scalar(text, false), text);
        }
        assert_eq!(scalar("a,b", true), "'a,b'");
    }

    #[test]
    fn nested_values_read_back_unchanged() {
        let text = "a:\n  - b: !Sub ['x${Y}', {Y: !Ref Z}]\n    c: [1, 'two', !GetAtt A.B]\n  - - nested\n  - !If [C, {}, []]\nd: !Not [!Equals [!Ref P, '']]\ne: !Join\n  - ','\n  - - !Ref Q\n    - r\n";
        let value: Value = from_str(text).unwrap();
        let emitted = emit(&value);
        let again: Value = from_str(&emitted).unwrap();
        assert_eq!(again, value, "{emitted}");
    }
}

#[cfg(test)]
mod json_tests {
    #[test]
    fn short_form_intrinsics_become_long_form_json() {
        let value: super::Value = serde_yaml::from_str(
            "A: !Ref B\nC: !GetAtt Fn.Arn\nD: !Sub '${AWS::StackName}-x'\nE: !If [Prod, 1, !Ref AWS::NoValue]\n",
        )
        .unwrap();
        assert_eq!(
            super::to_cloudformation_json(&value),
            serde_json::json!({
                "A": {"Ref": "B"},
                "C": {"Fn::GetAtt": ["Fn", "Arn"]},
                "D": {"Fn::Sub": "${AWS::StackName}-x"},
                "E": {"Fn::If": ["Prod", 1, {"Ref": "AWS::NoValue"}]},
            })
        );
    }
}
