//! meshctl: placeholder.
fn main() {}
