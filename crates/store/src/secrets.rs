//! Password hashes, API-token secrets, the JWT signing key, and sealing secrets at rest.

use argon2::{Argon2, PasswordHasher, PasswordVerifier, password_hash::phc::PasswordHash};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreResult};

/// Shortest password an admin account accepts.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Longest password accepted anywhere, in bytes: checked before hashing, so a huge
/// password cannot make argon2 (or the request) hold memory it never gives back.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Shortest `TELESTATE_SECRET_KEY`, in characters (at least 192 bits of a random key).
pub const MIN_SECRET_KEY_CHARS: usize = 32;

/// Prefix that marks an API token, so a leaked one is easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "tst_";

/// Hashes a password with argon2id and a fresh salt.
pub fn hash_password(password: &str) -> StoreResult<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::invalid(
            "weak_password",
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    check_password_length(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Internal(format!("hashing failed: {e}")))
}

/// Refuses a password longer than [`MAX_PASSWORD_BYTES`] (400 naming `password`).
pub fn check_password_length(password: &str) -> StoreResult<()> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::invalid(
            "too_long",
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// True when `password` matches the stored argon2 hash.
pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the account does not exist, so that a login for an
/// unknown user costs as much as one for a known user.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&new_password()).unwrap_or_default())
}

/// A fresh API-token secret: the prefix and 32 random bytes, base64url.
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// How a token is stored: SHA-256, hex. Tokens carry 256 random bits, so a fast hash is
/// enough and keeps the per-request lookup cheap.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The server's master secret (`TELESTATE_SECRET_KEY`, or the key file of the embedded
/// mode). The JWT signing key is derived from it and a salt kept in the database, so the
/// database alone does not let anyone mint login tokens, and every instance given the
/// same secret derives the same key.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// The key as configured; at least [`MIN_SECRET_KEY_CHARS`] characters.
    pub fn from_text(text: &str) -> Result<SecretKey, String> {
        let text = text.trim();
        if text.chars().count() < MIN_SECRET_KEY_CHARS {
            return Err(format!(
                "must be at least {MIN_SECRET_KEY_CHARS} characters (e.g. `openssl rand -base64 48`)"
            ));
        }
        Ok(SecretKey(text.as_bytes().to_vec()))
    }

    /// A fixed, publicly known key for tests and embedders that set none; the server
    /// never uses it (it always passes `TELESTATE_SECRET_KEY` or its key file).
    pub fn insecure_default() -> SecretKey {
        SecretKey(b"telestate insecure default secret key: tests only".to_vec())
    }

    /// A fresh random key, as text (what a key file holds).
    pub fn generate_text() -> String {
        let mut bytes = [0u8; 48];
        rand::rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads the key file at `path`, creating it with a fresh key (mode 0600) when it
    /// does not exist. Two processes starting at once agree: the file is created with
    /// `create_new`, and the loser reads the winner's.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<SecretKey> {
        use std::io::Write;
        let invalid = |e: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let text = Self::generate_text();
                file.write_all(format!("{text}\n").as_bytes())?;
                file.sync_all()?;
                SecretKey::from_text(&text).map_err(invalid)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path)?;
                SecretKey::from_text(&text).map_err(invalid)
            }
            Err(e) => Err(e),
        }
    }

    /// A key derived for one purpose (`label`) and one installation (`salt`):
    /// HMAC-SHA256(secret, label ‖ 0 ‖ salt).
    pub fn derive(&self, label: &str, salt: &str) -> Vec<u8> {
        let mut message = Vec::with_capacity(label.len() + 1 + salt.len());
        message.extend_from_slice(label.as_bytes());
        message.push(0);
        message.extend_from_slice(salt.as_bytes());
        hmac_sha256(&self.0, &message).to_vec()
    }
}

/// The label of the platform-secret key: [`SecretKey::derive`] of this and the salt in
/// settings (`store::settings::sealer`).
pub const SEALER_LABEL: &str = "telestate platform secrets v1";

/// Marks the format of a sealed value: `v1.` then base64url(nonce ‖ ciphertext ‖ tag).
const SEALED_V1: &str = "v1.";
/// ChaCha20-Poly1305's nonce: 96 bits, random per seal (at 2^32 seals under one key the
/// chance of a repeat is still below 2^-32; an installation seals a handful).
const NONCE_BYTES: usize = 12;
/// Poly1305's tag.
const TAG_BYTES: usize = 16;

/// Seals secrets at rest (platform client and signing secrets) with ChaCha20-Poly1305
/// under a key derived from `TELESTATE_SECRET_KEY`, so a copy of the database alone does
/// not reveal them, and a sealed value that was altered, or is opened under another key,
/// fails to open instead of yielding garbage.
#[derive(Clone)]
pub struct Sealer {
    cipher: chacha20poly1305::ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(…)")
    }
}

impl Sealer {
    /// A sealer over a 32-byte key (what [`SecretKey::derive`] returns).
    pub fn new(key: &[u8]) -> StoreResult<Sealer> {
        use chacha20poly1305::KeyInit;
        chacha20poly1305::ChaCha20Poly1305::new_from_slice(key)
            .map(|cipher| Sealer { cipher })
            .map_err(|_| StoreError::Internal("a sealing key must be 32 bytes".into()))
    }

    /// Seals `secret`: `v1.` and base64url(random nonce ‖ ciphertext ‖ tag). The version
    /// is also the associated data, so a value cannot be passed off as another format.
    pub fn seal(&self, secret: &str) -> StoreResult<String> {
        use chacha20poly1305::aead::{Aead, Payload};
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &chacha20poly1305::Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: SEALED_V1.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Internal("sealing a secret failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_V1}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a value made by [`Sealer::seal`]. A tampered value, another key or an unknown
    /// format is an internal error whose message holds neither the value nor the secret.
    pub fn open(&self, sealed: &str) -> StoreResult<String> {
        use chacha20poly1305::aead::{Aead, Payload};
        let refused = || {
            StoreError::Internal(
                "a sealed secret did not open: it was altered, or TELESTATE_SECRET_KEY (or the \
                 platform_secrets_salt setting) is not the one it was sealed under"
                    .into(),
            )
        };
        let bytes = sealed
            .strip_prefix(SEALED_V1)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|b| b.len() >= NONCE_BYTES + TAG_BYTES)
            .ok_or_else(refused)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| refused())?;
        let plain = self
            .cipher
            .decrypt(
                &chacha20poly1305::Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: SEALED_V1.as_bytes(),
                },
            )
            .map_err(|_| refused())?;
        String::from_utf8(plain).map_err(|_| refused())
    }
}

/// HMAC (RFC 2104) over SHA-256: key derivation here, webhook signatures in the worker.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// A random salt for a derived key, base64url.
pub(crate) fn new_salt() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A random password for the first owner when none is configured.
pub fn new_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password("short").is_err());
        assert!(PasswordHash::new(decoy_hash()).is_ok());
    }

    #[test]
    fn an_overlong_password_is_refused_before_hashing_and_never_matches() {
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(
            hash_password(&long),
            Err(StoreError::Invalid { field, .. }) if field == "password"
        ));
        assert!(hash_password(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(!verify_password(&long, decoy_hash()));
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn derived_keys_depend_on_the_secret_the_label_and_the_salt() {
        let a = SecretKey::from_text(&"a".repeat(32)).unwrap();
        let b = SecretKey::from_text(&"b".repeat(32)).unwrap();
        assert_eq!(a.derive("jwt", "s1"), a.derive("jwt", "s1"));
        assert_ne!(a.derive("jwt", "s1"), b.derive("jwt", "s1"));
        assert_ne!(a.derive("jwt", "s1"), a.derive("jwt", "s2"));
        assert_ne!(a.derive("jwt", "s1"), a.derive("other", "s1"));
        assert!(SecretKey::from_text("too short").is_err());
        assert_eq!(format!("{a:?}"), "SecretKey(…)");
    }

    fn sealer(secret: char, salt: &str) -> Sealer {
        let key = SecretKey::from_text(&secret.to_string().repeat(32)).unwrap();
        Sealer::new(&key.derive(SEALER_LABEL, salt)).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_under_its_key_and_never_shows_in_clear() {
        let s = sealer('a', "salt");
        let sealed = s.seal("hunter2-client-secret").unwrap();
        assert!(sealed.starts_with("v1."), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(s.open(&sealed).unwrap(), "hunter2-client-secret");
        // A fresh nonce each time: the same secret never seals to the same text.
        let again = s.seal("hunter2-client-secret").unwrap();
        assert_ne!(sealed, again);
        assert_eq!(s.open(&again).unwrap(), "hunter2-client-secret");
        assert_eq!(s.open(&s.seal("").unwrap()).unwrap(), "");
        assert_eq!(format!("{s:?}"), "Sealer(…)");
    }

    #[test]
    fn a_tampered_or_foreign_sealed_value_fails_cleanly() {
        let s = sealer('a', "salt");
        let sealed = s.seal("hunter2").unwrap();
        let refused = |r: StoreResult<String>| match r {
            Err(StoreError::Internal(m)) => assert!(!m.contains("hunter2"), "{m}"),
            other => panic!("expected an internal error, got {other:?}"),
        };
        refused(sealer('b', "salt").open(&sealed));
        refused(sealer('a', "other salt").open(&sealed));
        // Flip one character of the body.
        let mut chars: Vec<char> = sealed.chars().collect();
        let i = chars.len() - 5;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        refused(s.open(&chars.into_iter().collect::<String>()));
        refused(s.open(&sealed.replacen("v1.", "v2.", 1)));
        refused(s.open("v1."));
        refused(s.open("v1.!!!"));
        refused(s.open("hunter2"));
        assert!(Sealer::new(b"short").is_err());
    }

    #[test]
    fn a_key_file_is_created_once_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("telestate-key-{}", new_salt()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret.key");
        let first = SecretKey::load_or_create(&path).unwrap();
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(first.derive("jwt", "s"), again.derive("jwt", "s"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
