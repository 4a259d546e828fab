//! [`AccountKey`]: the Fauna account key, a bearer secret. Its `Debug` never shows it, and only
//! the `Authorization` header of an API call ever reads it.

use secrecy::{ExposeSecret, SecretString};

/// A Fauna account key.
#[derive(Clone)]
pub struct AccountKey(SecretString);

impl AccountKey {
    /// The key, registered with [`crate::redact`] so that no output can show it, even where
    /// an upstream answer echoes it.
    pub fn new(secret: String) -> AccountKey {
        crate::redact::register_secret(&secret);
        AccountKey(SecretString::from(secret))
    }

    /// The secret, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_prints() {
        let key = AccountKey::new("fnac-secret".into());
        assert_eq!(format!("{key:?}"), "AccountKey(<redacted>)");
        assert_eq!(key.expose(), "fnac-secret");
    }
}
