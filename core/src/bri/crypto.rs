//! BRI's encryption at rest: AES-256-GCM, 12-byte IV, 16-byte tag, stored as
//! `base64(IV | tag | ciphertext)`. WAL entries use the AAD `"{timestamp}|{pointer}"`;
//! `snapshot.jss` uses no AAD. IVs for encryption are passed in by the host (core has no
//! randomness); never reuse one with the same key.

use super::BriError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// An AES-256 key (the 64 hex characters of `BRI_ENCRYPTION_KEY`).
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key(bytes)
    }

    /// Parse the 64 hex characters of `BRI_ENCRYPTION_KEY` (surrounding whitespace ignored).
    pub fn from_hex(text: &[u8]) -> Result<Self, BriError> {
        let t = text.trim_ascii();
        let mut k = [0u8; 32];
        if t.len() != 64 || hex::decode_to_slice(t, &mut k).is_err() {
            return Err(BriError::BadKey {
                message: format!(
                    "the encryption key must be 64 hex characters (32 bytes); got {} characters",
                    t.len()
                ),
            });
        }
        Ok(Key(k))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.0).into())
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn open(key: &Key, blob_b64: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
    let blob = b64()
        .decode(blob_b64.trim_ascii())
        .map_err(|e| format!("not base64 ({e})"))?;
    if blob.len() < IV_LEN + TAG_LEN {
        return Err(format!(
            "{} bytes, shorter than IV and tag ({} bytes)",
            blob.len(),
            IV_LEN + TAG_LEN
        ));
    }
    let (iv, rest) = blob.split_at(IV_LEN);
    let (tag, ct) = rest.split_at(TAG_LEN);
    let mut msg = Vec::with_capacity(ct.len() + TAG_LEN);
    msg.extend_from_slice(ct);
    msg.extend_from_slice(tag);
    key.cipher()
        .decrypt(Nonce::from_slice(iv), Payload { msg: &msg, aad })
        .map_err(|_| "authentication failed: wrong key, or the data is damaged".to_string())
}

fn seal(key: &Key, iv: [u8; IV_LEN], plaintext: &[u8], aad: &[u8]) -> String {
    // AES-GCM encryption with a 12-byte nonce cannot fail for inputs below 64 GiB.
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    let (ct, tag) = sealed.split_at(sealed.len().saturating_sub(TAG_LEN));
    let mut blob = Vec::with_capacity(IV_LEN + sealed.len());
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(tag);
    blob.extend_from_slice(ct);
    b64().encode(blob)
}

/// Whether a WAL payload decodes as an encrypted blob (base64 of at least IV + tag).
pub fn looks_like_ciphertext(payload: &str) -> bool {
    payload.len() >= 40
        && payload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// Decrypt the entry of WAL line `line` (`timestamp_text` and `pointer` as written).
pub fn decrypt_entry(
    key: &Key,
    line: u64,
    timestamp_text: &str,
    pointer: &str,
    payload: &str,
) -> Result<String, BriError> {
    let aad = format!("{timestamp_text}|{pointer}");
    let plain = open(key, payload.as_bytes(), aad.as_bytes()).map_err(|m| BriError::Decrypt {
        what: format!("WAL line {line}"),
        message: m,
    })?;
    String::from_utf8(plain).map_err(|_| BriError::Decrypt {
        what: format!("WAL line {line}"),
        message: "the decrypted entry is not UTF-8".into(),
    })
}

/// Encrypt a WAL entry as BRI does (the host supplies a fresh random IV).
pub fn encrypt_entry(
    key: &Key,
    iv: [u8; 12],
    timestamp_text: &str,
    pointer: &str,
    plaintext: &str,
) -> String {
    let aad = format!("{timestamp_text}|{pointer}");
    seal(key, iv, plaintext.as_bytes(), aad.as_bytes())
}

/// Decrypt an encrypted `snapshot.jss` (no AAD).
pub fn decrypt_snapshot(key: &Key, bytes: &[u8]) -> Result<Vec<u8>, BriError> {
    open(key, bytes, b"").map_err(|m| BriError::Decrypt {
        what: "snapshot.jss".into(),
        message: m,
    })
}

/// Encrypt snapshot text as BRI does (no AAD); the host supplies a fresh random IV.
pub fn encrypt_snapshot(key: &Key, iv: [u8; 12], plaintext: &[u8]) -> String {
    seal(key, iv, plaintext, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_wrong_key() {
        let k = Key::from_hex(&[b'a'; 64]).unwrap();
        let c = encrypt_entry(&k, [7; 12], "17", "0123abcd", "{\"x\":1}");
        assert!(looks_like_ciphertext(&c));
        assert_eq!(
            decrypt_entry(&k, 1, "17", "0123abcd", &c).unwrap(),
            "{\"x\":1}"
        );
        // Other AAD or other key: refused with the line number.
        let e = decrypt_entry(&k, 9, "18", "0123abcd", &c).unwrap_err();
        assert!(e.to_string().contains("line 9"), "{e}");
        let k2 = Key::from_hex(&[b'b'; 64]).unwrap();
        assert!(decrypt_entry(&k2, 1, "17", "0123abcd", &c).is_err());
        let s = encrypt_snapshot(&k, [1; 12], b"{}");
        assert_eq!(decrypt_snapshot(&k, s.as_bytes()).unwrap(), b"{}");
        assert!(decrypt_snapshot(&k, b"AAAA").is_err());
        assert!(decrypt_snapshot(&k, b"!!!").is_err());
    }

    #[test]
    fn bad_keys() {
        assert!(Key::from_hex(b"abc").is_err());
        assert!(Key::from_hex(&[b'z'; 64]).is_err());
        assert!(Key::from_hex(format!(" {} \n", "0".repeat(64)).as_bytes()).is_ok());
    }
}
