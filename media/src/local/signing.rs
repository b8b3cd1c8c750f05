//! URLs signed by the node for its local media store: an HMAC-SHA256 under the node's media
//! secret over the method, the key, the content type and length (uploads) and the expiry.
//! Anyone with the URL may use it until it expires, exactly as with an S3 presigned URL; nobody
//! can change what it allows without the secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::key::MediaKey;

type HmacSha256 = Hmac<Sha256>;

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// What a signed URL allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant<'a> {
    /// Upload exactly `length` bytes of `content_type`.
    Put {
        content_type: &'a str,
        length: u64,
    },
    Get,
}

/// Why a signed URL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not signed by this node's secret, or altered since.
    #[error("bad signature")]
    BadSignature,
    #[error("link expired")]
    Expired,
}

/// Signs and checks with one secret.
#[derive(Clone)]
pub struct Signer {
    mac: HmacSha256,
}

impl Signer {
    /// `None` when the secret is shorter than [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8]) -> Option<Signer> {
        if secret.len() < MIN_SECRET_BYTES {
            return None;
        }
        HmacSha256::new_from_slice(secret)
            .ok()
            .map(|mac| Signer { mac })
    }

    fn mac(&self, key: &MediaKey, grant: Grant<'_>, expires: u64) -> HmacSha256 {
        let mut mac = self.mac.clone();
        // Fields separated by a newline, which no field can contain (keys and header-safe
        // content types are visible ASCII), so no two grants sign the same text.
        let text = match grant {
            Grant::Put {
                content_type,
                length,
            } => format!("PUT\n{key}\n{content_type}\n{length}\n{expires}"),
            Grant::Get => format!("GET\n{key}\n\n\n{expires}"),
        };
        mac.update(text.as_bytes());
        mac
    }

    /// The signature, in lower-case hex.
    pub fn sign(&self, key: &MediaKey, grant: Grant<'_>, expires: u64) -> String {
        hex(&self.mac(key, grant, expires).finalize().into_bytes())
    }

    /// Checks the signature (in constant time) and then the expiry against `now` (seconds
    /// since the Unix epoch).
    pub fn verify(
        &self,
        key: &MediaKey,
        grant: Grant<'_>,
        expires: u64,
        signature: &str,
        now: u64,
    ) -> Result<(), LinkError> {
        let signature = unhex(signature).ok_or(LinkError::BadSignature)?;
        self.mac(key, grant, expires)
            .verify_slice(&signature)
            .map_err(|_| LinkError::BadSignature)?;
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower- or upper-case hex of at most 64 bytes; `None` for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> MediaKey {
        MediaKey::parse(k).unwrap()
    }

    #[test]
    fn a_signature_holds_only_for_what_it_signed() {
        let signer = Signer::new(&[7; 32]).unwrap();
        let put = Grant::Put {
            content_type: "image/png",
            length: 10,
        };
        let sig = signer.sign(&key("rooms/1/2"), put, 100);
        assert_eq!(signer.verify(&key("rooms/1/2"), put, 100, &sig, 99), Ok(()));
        assert_eq!(
            signer.verify(&key("rooms/1/2"), put, 100, &sig.to_uppercase(), 99),
            Ok(())
        );
        let refused =
            |k: &str, grant, expires, sig: &str| signer.verify(&key(k), grant, expires, sig, 99);
        let bad = Err(LinkError::BadSignature);
        assert_eq!(refused("rooms/1/3", put, 100, &sig), bad, "another key");
        assert_eq!(refused("rooms/1/2", put, 101, &sig), bad, "a later expiry");
        assert_eq!(refused("rooms/1/2", Grant::Get, 100, &sig), bad, "a GET");
        let bigger = Grant::Put {
            content_type: "image/png",
            length: 11,
        };
        assert_eq!(refused("rooms/1/2", bigger, 100, &sig), bad, "more bytes");
        let other_type = Grant::Put {
            content_type: "text/html",
            length: 10,
        };
        assert_eq!(refused("rooms/1/2", other_type, 100, &sig), bad, "a type");
        assert_eq!(refused("rooms/1/2", put, 100, "zz"), bad, "not hex");
        assert_eq!(refused("rooms/1/2", put, 100, &sig[..62]), bad, "cut short");
        let other = Signer::new(&[8; 32]).unwrap();
        assert_eq!(
            other.verify(&key("rooms/1/2"), put, 100, &sig, 99),
            bad,
            "another node's secret"
        );
        assert_eq!(
            signer.verify(&key("rooms/1/2"), put, 100, &sig, 100),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Signer::new(&[1; MIN_SECRET_BYTES - 1]).is_none());
    }
}
