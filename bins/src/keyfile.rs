//! A node's generated secrets (the token key, the local media store's signing key): 32 random
//! bytes kept in a file under the data directory, made on first start.

use std::io::Write as _;
use std::path::Path;

use rand::RngCore as _;

/// The key in `path`, or a new one written there: created 0600, never readable by others even
/// for a moment (a chmod after writing would leave a window). A file shorter than 32 bytes is
/// replaced. Blocking file I/O: call it at start-up or through `spawn_blocking`.
pub fn read_or_make(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(secret) if secret.len() >= 32 => Ok(secret),
        _ => {
            let mut secret = vec![0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(path)?.write_all(&secret)?;
            Ok(secret)
        }
    }
}
