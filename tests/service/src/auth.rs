// SPDX-License-Identifier: Apache-2.0
//! HS256 JWT minting and verification (dev key), and `Authorization` header parsing.

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Audience put into minted tokens and accepted on verification (tokens without `aud` pass).
pub const AUDIENCE: &str = "psync-test-service";

/// Claims the service uses from a verified token.
#[derive(Debug, Clone)]
pub struct Claims {
    /// The user id (`sub`).
    pub user_id: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

fn sign(secret: &[u8], signing_input: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(signing_input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Mints an HS256 token for `user_id` expiring at `exp` (seconds since the epoch).
pub fn mint(secret: &[u8], user_id: &str, iat: i64, exp: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"dev"}"#);
    let claims = json!({"sub": user_id, "iat": iat, "exp": exp, "aud": AUDIENCE});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(sign(secret, &input));
    format!("{input}.{signature}")
}

/// Extracts the token from `Token <jwt>` / `Bearer <jwt>`.
pub fn token_from_header(header: Option<&str>) -> Result<&str, ApiError> {
    let header = header.ok_or_else(ApiError::auth_required)?;
    let (scheme, token) = header.split_once(' ').ok_or_else(ApiError::auth_required)?;
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"))
        || token.is_empty()
    {
        return Err(ApiError::auth_required());
    }
    Ok(token)
}

/// Verifies signature, algorithm, audience and expiry of a token at time `now` (seconds).
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<Claims, ApiError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ApiError::auth_generic("Token is not a valid JWT"));
    };
    let decode = |part: &str| -> Result<Value, ApiError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| ApiError::auth_generic("Token is not a valid JWT"))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| ApiError::auth_generic("Token is not a valid JWT"))
    };
    let header_json = decode(header)?;
    if header_json.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(ApiError::auth_signature(
            "Unsupported algorithm or unknown key",
        ));
    }
    let given = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| ApiError::auth_signature("Invalid signature"))?;
    let mut mac = HmacSha256::new_from_slice(secret)
        .map_err(|_| ApiError::auth_signature("Invalid signature"))?;
    mac.update(format!("{header}.{payload}").as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| ApiError::auth_signature("Invalid signature"))?;
    let claims = decode(payload)?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::auth_generic("Token has no exp claim"))?;
    if exp <= now {
        return Err(ApiError::auth_expired());
    }
    match claims.get("aud") {
        None => {}
        Some(Value::String(aud)) if aud == AUDIENCE => {}
        Some(Value::Array(list)) if list.iter().any(|a| a.as_str() == Some(AUDIENCE)) => {}
        Some(_) => return Err(ApiError::auth_audience()),
    }
    let user_id = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::auth_generic("Token has no sub claim"))?
        .to_owned();
    Ok(Claims { user_id, exp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies() {
        let token = mint(b"k", "u1", 100, 200);
        let claims = verify(b"k", &token, 150).expect("valid");
        assert_eq!(claims.user_id, "u1");
        assert_eq!(claims.exp, 200);
    }

    #[test]
    fn expired_wrong_key_and_garbage_are_rejected_with_codes() {
        let token = mint(b"k", "u1", 100, 200);
        assert_eq!(
            verify(b"k", &token, 200).expect_err("expired").code,
            "PSYNC_S2103"
        );
        assert_eq!(
            verify(b"other", &token, 150).expect_err("sig").code,
            "PSYNC_S2102"
        );
        assert_eq!(
            verify(b"k", "abc", 150).expect_err("garbage").code,
            "PSYNC_S2101"
        );
    }

    #[test]
    fn header_schemes() {
        assert_eq!(token_from_header(Some("Token abc")).expect("token"), "abc");
        assert_eq!(
            token_from_header(Some("Bearer abc")).expect("bearer"),
            "abc"
        );
        assert_eq!(
            token_from_header(None).expect_err("none").code,
            "PSYNC_S2106"
        );
        assert_eq!(
            token_from_header(Some("Basic x")).expect_err("basic").code,
            "PSYNC_S2106"
        );
    }
}
