//! Tools called the way an MCP client calls them, with a signed-in test caller; no server, no
//! network.

use mcpctl_handler::testing::TestClient;

use super::Server;

#[tokio::test]
async fn hello_greets_the_caller() {
    let client = TestClient::new(Server::new());
    let text = client
        .call_tool_text("hello", serde_json::json!({"name": "Ada"}))
        .await;
    assert!(text.contains("Hello, Ada"), "{text}");
}
