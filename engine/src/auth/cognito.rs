//! Amazon Cognito tokens: RS256 JWTs checked against the user pool's keys (its JWKS) for their
//! signature, issuer, audience (`aud` of an ID token, `client_id` of an access token),
//! `token_use`, and `exp`/`nbf`/`iat` within a small skew. No I/O here: the binary fetches the
//! key set and hands it over as a [`KeySet`]; a token signed with a key not in the set is
//! answered [`AuthError::UnknownKey`] so that the caller can have the keys fetched again.
//! A token whose `cognito:groups` names the configured premium group says its user is premium
//! ([`External::premium`]).

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{AuthError, External};

/// Most keys kept from one JWKS document: Cognito publishes two per pool (the ID-token and the
/// access-token key), so a document with many more is not a pool's and is cut off.
pub const MAX_KEYS: usize = 16;

/// Longest `sub` and user name accepted, in bytes. Cognito's are a UUID and at most 128
/// characters; a longer claim is refused rather than stored.
const MAX_CLAIM_BYTES: usize = 128;

/// A JWKS document that yields no usable key.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("not a JWKS document: {0}")]
    Malformed(String),
    #[error("the JWKS document holds no RS256 signing key with a key id")]
    NoKeys,
}

/// The RS256 signing keys of one JWKS document, by key id. Keys of other types, algorithms or
/// uses, and keys without an id, are left out: a Cognito token always names its key.
#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`), keeping at most [`MAX_KEYS`] keys. A key that
    /// does not parse is skipped, not fatal: one odd entry must not take the others with it.
    pub fn from_jwks(json: &[u8]) -> Result<KeySet, JwksError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let doc: Document =
            serde_json::from_slice(json).map_err(|e| JwksError::Malformed(e.to_string()))?;
        let keys: HashMap<String, DecodingKey> = doc
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
            .filter_map(|jwk| rs256_key(&jwk))
            .take(MAX_KEYS)
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoKeys);
        }
        Ok(KeySet { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }
}

/// The key id and decoding key of an RSA signing key meant for RS256 (or not saying).
fn rs256_key(jwk: &Jwk) -> Option<(String, DecodingKey)> {
    let kid = jwk.common.key_id.clone()?;
    if !matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)) {
        return None;
    }
    if !matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    ) {
        return None;
    }
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None;
    };
    let key = DecodingKey::from_rsa_components(&rsa.n, &rsa.e).ok()?;
    Some((kid, key))
}

/// The claims Switchboard reads from a Cognito token. `iat` is required: a token that does not
/// say when it was issued is refused.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    token_use: String,
    iat: u64,
    exp: u64,
    /// ID tokens: the app client the token was issued to.
    aud: Option<String>,
    /// Access tokens: the app client the token was issued to.
    client_id: Option<String>,
    /// ID tokens: the user's name in the pool.
    #[serde(rename = "cognito:username")]
    cognito_username: Option<String>,
    /// Access tokens: the user's name in the pool.
    username: Option<String>,
    /// Both kinds: the pool groups the user is in (absent when in none).
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
}

/// What a token must say to be accepted: whose pool issued it, for which app client, and how
/// far clocks may disagree.
pub struct CognitoRules {
    client_id: String,
    skew_secs: u64,
    validation: Validation,
    premium_group: Option<String>,
}

impl CognitoRules {
    /// `issuer` is the pool's issuer URL exactly as tokens carry it
    /// (`https://cognito-idp.<region>.amazonaws.com/<pool id>`); `client_id` the app client
    /// whose tokens are accepted; `skew_secs` the clock skew allowed on `exp`, `nbf` and `iat`.
    pub fn new(issuer: &str, client_id: &str, skew_secs: u64) -> Self {
        super::crypto::install();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = skew_secs;
        validation.validate_nbf = true;
        // Checked below by `token_use`: an ID token carries `aud`, an access token `client_id`.
        validation.validate_aud = false;
        CognitoRules {
            client_id: client_id.to_owned(),
            skew_secs,
            validation,
            premium_group: None,
        }
    }

    /// Tokens whose `cognito:groups` holds `group` (compared exactly, as Cognito's group
    /// names are case-sensitive) say their user is premium. Without it no token does.
    pub fn with_premium_group(mut self, group: Option<&str>) -> Self {
        self.premium_group = group.map(str::to_owned);
        self
    }

    /// Checks `token` against `keys` and these rules. [`AuthError::UnknownKey`] when the token
    /// is signed with a key id the set lacks (checked before anything else, so nothing is
    /// known of such a token except that it names a key); [`AuthError::Expired`] when it is
    /// past `exp` plus the skew; [`AuthError::Invalid`] for every other fault.
    pub fn verify(&self, keys: &KeySet, token: &str) -> Result<External, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid);
        }
        let kid = header.kid.ok_or(AuthError::Invalid)?;
        let key = keys.keys.get(&kid).ok_or(AuthError::UnknownKey)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        let access = claims.token_use == "access";
        let (audience, name) = match claims.token_use.as_str() {
            "id" => (claims.aud, claims.cognito_username),
            "access" => (claims.client_id, claims.username),
            _ => return Err(AuthError::Invalid),
        };
        if audience.as_deref() != Some(self.client_id.as_str()) {
            return Err(AuthError::Invalid);
        }
        // Issued in the future: a clock far off, or a forged `iat`.
        if claims.iat > jsonwebtoken::get_current_timestamp() + self.skew_secs {
            return Err(AuthError::Invalid);
        }
        let name = name.ok_or(AuthError::Invalid)?;
        let bounded = |s: &str| !s.is_empty() && s.len() <= MAX_CLAIM_BYTES;
        if !bounded(&claims.sub) || !bounded(&name) {
            return Err(AuthError::Invalid);
        }
        let premium = self
            .premium_group
            .as_ref()
            .is_some_and(|group| claims.groups.contains(group));
        Ok(External {
            subject: claims.sub,
            name,
            issued_at: claims.iat,
            expires_at: claims.exp,
            access,
            premium,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use jsonwebtoken::{EncodingKey, Header};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use serde_json::{Value, json};

    use super::*;

    const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool";
    const CLIENT: &str = "client-1";

    /// Two RSA keys, made once per test run (key generation is slow in a debug build).
    fn signers() -> &'static [EncodingKey; 2] {
        static KEYS: OnceLock<[EncodingKey; 2]> = OnceLock::new();
        KEYS.get_or_init(|| {
            let make = || {
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
                EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
            };
            [make(), make()]
        })
    }

    fn jwk(key: &EncodingKey, kid: &str) -> Value {
        let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).unwrap()
    }

    fn key_set() -> KeySet {
        let doc = json!({ "keys": [jwk(&signers()[0], "k1")] });
        KeySet::from_jwks(doc.to_string().as_bytes()).unwrap()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn id_claims() -> Value {
        json!({
            "sub": "5f1c-sub", "iss": ISSUER, "aud": CLIENT, "token_use": "id",
            "cognito:username": "alice", "iat": now(), "exp": now() + 3600,
        })
    }

    fn sign(claims: &Value, kid: &str, key: &EncodingKey) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        claims[key] = value;
        claims
    }

    fn rules() -> CognitoRules {
        CognitoRules::new(ISSUER, CLIENT, 30)
    }

    #[test]
    fn id_and_access_tokens_name_their_user() {
        let keys = key_set();
        let claims = id_claims();
        let token = sign(&claims, "k1", &signers()[0]);
        let alice = External {
            subject: "5f1c-sub".into(),
            name: "alice".into(),
            issued_at: claims["iat"].as_u64().unwrap(),
            expires_at: claims["exp"].as_u64().unwrap(),
            access: false,
            premium: false,
        };
        assert_eq!(rules().verify(&keys, &token), Ok(alice.clone()));
        let access = json!({
            "sub": "5f1c-sub", "iss": ISSUER, "client_id": CLIENT, "token_use": "access",
            "username": "alice", "iat": alice.issued_at, "exp": alice.expires_at,
        });
        assert_eq!(
            rules().verify(&keys, &sign(&access, "k1", &signers()[0])),
            Ok(External {
                access: true,
                ..alice
            })
        );
    }

    #[test]
    fn the_premium_group_claim_makes_a_token_premium() {
        let keys = key_set();
        let premium = |rules: &CognitoRules, claims: &Value| {
            rules
                .verify(&keys, &sign(claims, "k1", &signers()[0]))
                .unwrap()
                .premium
        };
        let grouped = rules().with_premium_group(Some("premium"));
        let groups = |g: Value| with(id_claims(), "cognito:groups", g);
        assert!(premium(&grouped, &groups(json!(["staff", "premium"]))));
        let access = json!({
            "sub": "5f1c-sub", "iss": ISSUER, "client_id": CLIENT, "token_use": "access",
            "username": "alice", "iat": now(), "exp": now() + 3600,
            "cognito:groups": ["premium"],
        });
        assert!(
            premium(&grouped, &access),
            "access tokens carry the groups too"
        );
        assert!(!premium(&grouped, &id_claims()), "in no group");
        assert!(!premium(&grouped, &groups(json!(["staff"]))));
        assert!(
            !premium(&grouped, &groups(json!(["Premium"]))),
            "names are case-sensitive"
        );
        assert!(
            !premium(&rules(), &groups(json!(["premium"]))),
            "no premium group configured: no token is premium"
        );
        // A groups claim that is not a list of names makes the token malformed.
        let odd = sign(&groups(json!("premium")), "k1", &signers()[0]);
        assert_eq!(grouped.verify(&keys, &odd), Err(AuthError::Invalid));
    }

    #[test]
    fn each_broken_rule_is_refused() {
        let keys = key_set();
        let check = |claims: Value| rules().verify(&keys, &sign(&claims, "k1", &signers()[0]));
        let invalid = Err(AuthError::Invalid);
        assert_eq!(check(with(id_claims(), "aud", json!("other"))), invalid);
        assert_eq!(check(with(id_claims(), "iss", json!("https://x"))), invalid);
        assert_eq!(
            check(with(id_claims(), "token_use", json!("refresh"))),
            invalid
        );
        // An ID token's audience claim is `aud`; `client_id` alone does not make it one.
        let mut no_aud = with(id_claims(), "client_id", json!(CLIENT));
        no_aud.as_object_mut().unwrap().remove("aud");
        assert_eq!(check(no_aud), invalid);
        let expired = with(id_claims(), "exp", json!(now() - 120));
        assert_eq!(check(expired), Err(AuthError::Expired));
        assert_eq!(check(with(id_claims(), "nbf", json!(now() + 600))), invalid);
        assert_eq!(check(with(id_claims(), "iat", json!(now() + 600))), invalid);
        let mut no_iat = id_claims();
        no_iat.as_object_mut().unwrap().remove("iat");
        assert_eq!(check(no_iat), invalid);
        assert_eq!(check(with(id_claims(), "sub", json!(""))), invalid);
        let long = "x".repeat(MAX_CLAIM_BYTES + 1);
        assert_eq!(
            check(with(id_claims(), "cognito:username", json!(long))),
            invalid
        );
    }

    #[test]
    fn the_skew_tolerates_clocks_a_little_apart() {
        let keys = key_set();
        let check = |claims: Value| rules().verify(&keys, &sign(&claims, "k1", &signers()[0]));
        assert!(check(with(id_claims(), "exp", json!(now() - 10))).is_ok());
        assert!(check(with(id_claims(), "iat", json!(now() + 10))).is_ok());
        assert!(check(with(id_claims(), "nbf", json!(now() + 10))).is_ok());
    }

    #[test]
    fn forged_tampered_and_foreign_key_tokens_are_refused() {
        let keys = key_set();
        let token = sign(&id_claims(), "k1", &signers()[0]);
        // The payload swapped for another user's, the signature kept.
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = sign(&with(id_claims(), "sub", json!("bob")), "k1", &signers()[0]);
        parts[1] = other.split('.').nth(1).unwrap();
        assert_eq!(
            rules().verify(&keys, &parts.join(".")),
            Err(AuthError::Invalid)
        );
        // Signed by another key under a known key id.
        let forged = sign(&id_claims(), "k1", &signers()[1]);
        assert_eq!(rules().verify(&keys, &forged), Err(AuthError::Invalid));
        // A key id the set lacks: the caller may fetch the keys again.
        let unknown = sign(&id_claims(), "k2", &signers()[1]);
        assert_eq!(rules().verify(&keys, &unknown), Err(AuthError::UnknownKey));
        // Another algorithm (HS256 here): only RS256 is accepted, whatever the key.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &id_claims(),
            &EncodingKey::from_secret(b"k1"),
        )
        .unwrap();
        assert_eq!(rules().verify(&keys, &hs), Err(AuthError::Invalid));
        assert_eq!(rules().verify(&keys, "garbage"), Err(AuthError::Invalid));
    }

    #[test]
    fn jwks_documents_keep_only_rs256_signing_keys() {
        let doc = json!({ "keys": [
            jwk(&signers()[0], "k1"),
            { "kty": "RSA", "n": "AQAB", "e": "AQAB" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            with(jwk(&signers()[1], "enc"), "use", json!("enc")),
            { "kid": "nonsense" },
        ]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains("k1"));
        assert!(matches!(
            KeySet::from_jwks(b"{\"keys\": []}"),
            Err(JwksError::NoKeys)
        ));
        assert!(matches!(
            KeySet::from_jwks(b"<html>"),
            Err(JwksError::Malformed(_))
        ));
    }
}
