// SPDX-License-Identifier: Apache-2.0
//! HS256 JWT minting and verification (dev key), and `Authorization` header parsing.

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Audience put into minted tokens; verification requires it (like a service configured with
/// `client_auth.audience`).
pub const AUDIENCE: &str = "psync-test-service";

/// Key id (`kid`) of the dev key; verification requires it, like a service whose keys all
/// carry a `kid`.
pub const KEY_ID: &str = "dev";

/// Longest token lifetime (`exp - iat`) accepted: the real service's default
/// `token_max_expiration` of one day.
pub const MAX_LIFETIME_SECS: i64 = 86_400;

/// Seconds an expired token is still accepted (the real service's clock tolerance).
pub const CLOCK_TOLERANCE_SECS: i64 = 60;

/// Claims the service uses from a verified token.
#[derive(Debug, Clone)]
pub struct Claims {
    /// The user id (`sub`; a non-string `sub` as its JSON text).
    pub user_id: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Every claim (stream filters may compare columns with them).
    pub payload: Value,
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

/// Signs arbitrary header and claims with HS256 (tests use it to build invalid tokens).
pub fn sign_token(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = URL_SAFE_NO_PAD.encode(sign(secret, &input));
    format!("{input}.{signature}")
}

/// Mints an HS256 token for `user_id` issued at `iat`, expiring at `exp` (seconds since the
/// epoch), with the dev `kid` and the service's audience.
pub fn mint(secret: &[u8], user_id: &str, iat: i64, exp: i64) -> String {
    sign_token(
        secret,
        &json!({"alg": "HS256", "typ": "JWT", "kid": KEY_ID}),
        &json!({"sub": user_id, "iat": iat, "exp": exp, "aud": AUDIENCE}),
    )
}

/// Extracts the token from `Token <jwt>` / `Bearer <jwt>` (exactly these spellings, one
/// space, no whitespace in the token).
pub fn token_from_header(header: Option<&str>) -> Result<&str, ApiError> {
    let header = header.ok_or_else(ApiError::auth_required)?;
    let token = header
        .strip_prefix("Token ")
        .or_else(|| header.strip_prefix("Bearer "))
        .ok_or_else(ApiError::auth_required)?;
    if token.is_empty() || token.chars().any(char::is_whitespace) {
        return Err(ApiError::auth_required());
    }
    Ok(token)
}

fn malformed() -> ApiError {
    ApiError::auth_generic("Token is not a well-formed JWT. Check the token format.")
}

fn decode_part(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

fn missing_claim(claim: &str) -> ApiError {
    ApiError::auth_generic(&format!(
        "JWT payload is missing a required claim \"{claim}\""
    ))
}

/// Verifies a token at time `now` (seconds) in the real service's order: format, key by `kid`,
/// algorithm, signature, required claims (`exp`, `iat`, `sub`), expiry (60 s tolerance),
/// audience, lifetime (at most a day) and the `parameters` claim.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<Claims, ApiError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let header_json = decode_part(header)
        .filter(Value::is_object)
        .ok_or_else(malformed)?;
    let alg = header_json
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(malformed)?;
    const SUPPORTED: [&str; 10] = [
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA",
    ];
    if !SUPPORTED.contains(&alg) {
        return Err(ApiError::auth_generic(
            "\"alg\" (Algorithm) Header Parameter not allowed",
        ));
    }
    if header_json.get("kid").and_then(Value::as_str) != Some(KEY_ID) {
        return Err(ApiError::auth_generic(
            "Could not find an appropriate key in the keystore. The key is missing or no key matched the token KID",
        ));
    }
    if alg != "HS256" {
        return Err(ApiError::auth_generic(&format!(
            "Unexpected token algorithm {alg}"
        )));
    }
    let signature_ok = URL_SAFE_NO_PAD.decode(signature).is_ok_and(|given| {
        HmacSha256::new_from_slice(secret).is_ok_and(|mut mac| {
            mac.update(format!("{header}.{payload}").as_bytes());
            mac.verify_slice(&given).is_ok()
        })
    });
    if !signature_ok {
        return Err(ApiError::auth_generic("signature verification failed"));
    }
    let claims = decode_part(payload)
        .filter(Value::is_object)
        .ok_or_else(malformed)?;
    for claim in ["exp", "iat", "sub"] {
        if claims.get(claim).is_none() {
            return Err(missing_claim(claim));
        }
    }
    let number = |claim: &str| claims.get(claim).and_then(Value::as_f64);
    let iat = number("iat").ok_or_else(|| missing_claim("iat"))?;
    if let Some(nbf) = claims.get("nbf") {
        match nbf.as_f64() {
            Some(nbf) if nbf <= (now + CLOCK_TOLERANCE_SECS) as f64 => {}
            _ => return Err(missing_claim("nbf")),
        }
    }
    let exp = number("exp").ok_or_else(|| missing_claim("exp"))?;
    if exp <= (now - CLOCK_TOLERANCE_SECS) as f64 {
        return Err(ApiError::auth_expired());
    }
    check_audience(claims.get("aud"))?;
    let lifetime = exp - iat;
    if lifetime > MAX_LIFETIME_SECS as f64 {
        return Err(ApiError::auth_lifetime(&format!(
            "Token must expire in a maximum of {MAX_LIFETIME_SECS} seconds, got {lifetime}s"
        )));
    }
    if claims
        .get("parameters")
        .is_some_and(|p| !p.is_object() && !p.is_null())
    {
        return Err(ApiError::auth_generic(
            "Payload parameters must be an object",
        ));
    }
    let user_id = match &claims["sub"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(Claims {
        user_id,
        exp: exp as i64,
        payload: claims,
    })
}

fn check_audience(aud: Option<&Value>) -> Result<(), ApiError> {
    let audiences: Vec<&Value> = match aud {
        None | Some(Value::Null) => {
            return Err(ApiError::auth_audience(
                "JWT payload is missing a required claim \"aud\"",
            ));
        }
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
    };
    if audiences.iter().any(|a| a.as_str() == Some(AUDIENCE)) {
        Ok(())
    } else {
        Err(ApiError::auth_audience(&format!(
            "Unexpected \"aud\" claim value: {}",
            aud.map(Value::to_string).unwrap_or_default()
        )))
    }
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
    fn expiry_has_the_real_services_tolerance() {
        let token = mint(b"k", "u1", 100, 200);
        assert!(verify(b"k", &token, 200 + CLOCK_TOLERANCE_SECS - 1).is_ok());
        let error = verify(b"k", &token, 200 + CLOCK_TOLERANCE_SECS).expect_err("expired");
        assert_eq!(
            (error.code, error.description.as_str()),
            ("PSYNC_S2103", "JWT has expired")
        );
    }

    #[test]
    fn header_schemes_are_exact() {
        assert_eq!(token_from_header(Some("Token abc")).expect("token"), "abc");
        assert_eq!(
            token_from_header(Some("Bearer abc")).expect("bearer"),
            "abc"
        );
        for bad in [
            None,
            Some("Basic x"),
            Some("token abc"),
            Some("Token  abc"),
            Some("Token "),
        ] {
            assert_eq!(
                token_from_header(bad).expect_err("rejected").code,
                "PSYNC_S2106",
                "{bad:?}"
            );
        }
    }
}
