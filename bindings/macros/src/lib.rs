// SPDX-License-Identifier: Apache-2.0
//! `#[psync_ffi_macros::export]`: the one way `psync-ffi` exports items.
//!
//! It expands to `#[uniffi::export(...)]` and adds `async_runtime = "tokio"` whenever the
//! item (a function or an `impl` block) contains an `async fn`. A forgotten runtime
//! attribute only fails at run time ("there is no reactor running"), so no exported item
//! may use `#[uniffi::export]` directly. Foreign traits pass through unchanged: their
//! async methods run on the host's executor.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{ImplItem, Item, parse_macro_input};

/// Exports `item` through UniFFI, running its async functions on the tokio runtime.
/// Arguments are passed on to `uniffi::export` unchanged.
#[proc_macro_attribute]
pub fn export(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = TokenStream2::from(args);
    let parsed = parse_macro_input!(item as Item);
    let has_async = match &parsed {
        Item::Fn(f) => f.sig.asyncness.is_some(),
        Item::Impl(block) => block
            .items
            .iter()
            .any(|i| matches!(i, ImplItem::Fn(f) if f.sig.asyncness.is_some())),
        _ => false,
    };
    let args = match (has_async, args.is_empty()) {
        (false, _) => args,
        (true, true) => quote!(async_runtime = "tokio"),
        (true, false) => quote!(async_runtime = "tokio", #args),
    };
    quote!(#[uniffi::export(#args)] #parsed).into()
}
