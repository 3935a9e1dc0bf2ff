//! Helpers shared by the test binaries of this folder (each binary uses only some of them).
#![allow(dead_code)]

pub mod as_grants;
pub mod migrate;
