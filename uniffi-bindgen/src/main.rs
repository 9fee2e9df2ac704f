//! The workspace's `uniffi-bindgen`, built from the exact uniffi version the
//! bindings crate uses (a separate crate, so the `cli` feature never lands in
//! the shipped library). Used by `scripts/bindgen`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
