//! Prints the resolve path's PostgreSQL statements as the store builds them, one per line:
//! `NAME<TAB>SQL`, then `connection_columns<TAB>` and the columns the statements on one
//! connection row select. Read by `scripts/bench/explain-hot-queries.sh`, which prepares and
//! EXPLAINs each one on a seeded database.
//!
//!     cargo run -q -p nexus-vault --example hot_statements

use std::io::Write;

fn main() -> std::io::Result<()> {
    // This is a tool whose output is its stdout (the script reads it), not SDK code.
    let mut out = std::io::stdout().lock();
    for (name, sql) in nexus_vault::store::hot_statements_pg() {
        // One line each: the statements are built from one-line fragments.
        assert!(!sql.contains('\n') && !sql.contains('\t'), "{name}");
        writeln!(out, "{name}\t{sql}")?;
    }
    writeln!(
        out,
        "connection_columns\t{}",
        nexus_vault::store::connection_columns()
    )?;
    Ok(())
}
