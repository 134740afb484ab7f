//! The conformance fixture server's `main`: `mcpctl dev --manifest-path examples/everything/Cargo.toml`.

fn main() {
    mcpctl_handler::run(example_everything::Everything::new)
}
