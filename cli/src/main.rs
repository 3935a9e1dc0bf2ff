//! The `nexus` command (work in progress; see issue 4).
fn main() {
    eprintln!("nexus: not built yet");
    std::process::exit(2);
}
