// SPDX-License-Identifier: Apache-2.0
//! Initial-sync benchmark (filled in below).
fn main() {}
