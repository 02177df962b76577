// SPDX-License-Identifier: Apache-2.0
//! Op and bucket checksums as the PowerSync service computes them.

use sha2::{Digest, Sha256};

/// First four bytes (little-endian) of the SHA-256 of `text`.
pub fn sha256_prefix_u32(text: &str) -> u32 {
    let digest = Sha256::digest(text.as_bytes());
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Checksum of a PUT op: hash of `put.<type>.<id>.<data>`.
pub fn put_checksum(object_type: &str, object_id: &str, data: &str) -> u32 {
    sha256_prefix_u32(&format!("put.{object_type}.{object_id}.{data}"))
}

/// Checksum of a REMOVE op: hash of `delete.<source key>` where the source key is
/// `<type>/<id>` in this service.
pub fn delete_checksum(object_type: &str, object_id: &str) -> u32 {
    sha256_prefix_u32(&format!("delete.{object_type}/{object_id}"))
}

/// Adds two checksums modulo 2^32.
pub fn add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

/// The JS service's representation of a summed checksum: `(a + b) & 0xffffffff` in JS is a
/// signed 32-bit number, so bucket checksums above 2^31 go on the wire negative.
pub fn js_signed(sum: u32) -> i64 {
    i64::from(sum as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_prefix_of_known_inputs() {
        // SHA-256("") = e3b0c442...; first four bytes LE = 0x42c4b0e3.
        assert_eq!(sha256_prefix_u32(""), 0x42c4_b0e3);
        // SHA-256("abc") = ba7816bf...
        assert_eq!(sha256_prefix_u32("abc"), 0xbf16_78ba);
    }

    #[test]
    fn sums_wrap_and_go_negative_like_js() {
        assert_eq!(add(u32::MAX, u32::MAX), 4_294_967_294);
        assert_eq!(js_signed(add(u32::MAX, u32::MAX)), -2);
        assert_eq!(js_signed(5), 5);
    }
}
