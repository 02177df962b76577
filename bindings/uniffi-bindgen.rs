// SPDX-License-Identifier: Apache-2.0
//! The `uniffi-bindgen` command line, built from the pinned uniffi so generated code matches
//! the scaffolding compiled into `psync_ffi`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
