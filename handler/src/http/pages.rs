//! The HTML pages a person sees: the consent page and error pages. No script at all, a strict
//! Content-Security-Policy, no framing, every dynamic value escaped.

use std::sync::LazyLock;

use aws_lc_rs::digest;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{font-weight:600}\
.actions{display:flex;gap:1rem;margin-top:1.5rem}button{font-size:1rem;padding:.5rem 1.2rem;cursor:pointer}\
.approve{background:#0b5;color:#fff;border:0}.error{color:#a00}code{word-break:break-all}";

static STYLE_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        STANDARD.encode(digest::digest(&digest::SHA256, STYLE.as_bytes()))
    )
});

fn page(status: StatusCode, title: &str, body: &str, form_action: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        text(title)
    );
    let csp = format!(
        "default-src 'none'; style-src {}; form-action 'self'{form_action}; frame-ancestors 'none'; base-uri 'none'",
        *STYLE_HASH
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error page: used whenever redirecting back to the client would be unsafe.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p><p>Close this window and start the sign-in again from your application.</p>",
        text(title),
        text(message)
    );
    page(status, title, &body, "")
}

/// An error page after which the application can still be told: the link takes the person back
/// to the (validated) redirect URI with an OAuth error, so the application stops waiting.
pub fn error_page_with_return(
    status: StatusCode,
    title: &str,
    message: &str,
    client_name: &str,
    return_to: &str,
) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"{}\">Return to {}</a> and start the sign-in again from there.</p>",
        text(title),
        text(message),
        attr(return_to),
        text(client_name)
    );
    page(status, title, &body, "")
}

/// What the consent page shows and submits.
pub struct ConsentView<'a> {
    /// Client display name (or id).
    pub client_name: &'a str,
    /// Who vouches for the application: "published by <host>" (CIMD), "unverified
    /// application" (open DCR), or "registered by this server's operator".
    pub publisher: &'a str,
    /// Where the browser will be sent back to: the full origin (scheme, host and port), or
    /// the scheme of a native app.
    pub redirect_target: &'a str,
    /// Origin (or scheme) the approval redirects to; allowed in `form-action`.
    pub redirect_origin: &'a str,
    /// Requested scopes.
    pub scopes: &'a [&'a str],
    /// Who is signed in.
    pub user: &'a str,
    /// The identity claims the application will receive, e.g. `name (Ada)`.
    pub released: &'a [String],
    /// Hidden form fields (the authorization request and the CSRF token).
    pub hidden: &'a [(&'a str, &'a str)],
    /// Form action URL.
    pub action: &'a str,
    /// Offer to remember the decision for this many days.
    pub remember_days: Option<u64>,
}

/// The consent page: approve or deny, as a plain form that works without JavaScript.
pub fn consent_page(view: &ConsentView<'_>) -> Response {
    let hidden: String = view
        .hidden
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                attr(name),
                attr(value)
            )
        })
        .collect();
    let scopes: String = view
        .scopes
        .iter()
        .map(|s| format!("<code>{}</code> ", text(s)))
        .collect();
    let remember = view
        .remember_days
        .map(|days| {
            format!(
                "<p><label><input type=\"checkbox\" name=\"remember\" value=\"yes\"> Remember this decision for {days} days</label></p>"
            )
        })
        .unwrap_or_default();
    let released = if view.released.is_empty() {
        "only an identifier for your account".to_owned()
    } else {
        view.released
            .iter()
            .map(|c| text(c).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let body = format!(
        "<h1>Allow {client} to use this MCP server?</h1>\
<dl><dt>Application</dt><dd>{client} <span class=\"publisher\">({publisher})</span></dd>\
<dt>Returns to</dt><dd><code>{target}</code></dd>\
<dt>Access</dt><dd>{scopes}</dd><dt>Signed in as</dt><dd>{user}</dd>\
<dt>Shared with the application</dt><dd>{released}</dd></dl>\
<form method=\"post\" action=\"{action}\">{hidden}{remember}<div class=\"actions\">\
<button type=\"submit\" name=\"decision\" value=\"approve\" class=\"approve\">Approve</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></div></form>",
        client = text(view.client_name),
        publisher = text(view.publisher),
        target = text(view.redirect_target),
        user = text(view.user),
        action = attr(view.action),
    );
    page(
        StatusCode::OK,
        "Authorize access",
        &body,
        &format!(" {}", view.redirect_origin),
    )
}
