//! The `bootstrap` of the hello example: the whole `main` of a server crate.

fn main() {
    mcpctl_handler::run(example_hello::Hello::new)
}
