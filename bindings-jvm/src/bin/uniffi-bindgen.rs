//! UniFFI's generator, pinned to the crate's own uniffi version. build-native.sh runs it in
//! library mode: `uniffi-bindgen generate --library target/debug/libnexus_jvm.so --language kotlin`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
