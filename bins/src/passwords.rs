//! Password hashing with bounded CPU and memory. Argon2id is slow and memory-hard on purpose,
//! so a sign-in flood must not be able to run it without bound: at most `permits` hashes run
//! at once (on the blocking pool, never on a runtime thread), at most `max_waiting` more wait
//! for a permit and the rest are refused with 4000 (HTTP 429), and each permit owns one
//! preallocated argon2 memory area that is reused, never returned to the allocator. Memory for
//! hashing is therefore at most `permits × argon2_memory_kib`, however many requests arrive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use switchboard_engine::ErrorCode;
use tokio::sync::Semaphore;

pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// One memory area per permit: whoever holds a permit takes one, and puts it back before
    /// the permit is released, even when the request that asked has gone away. Guards the
    /// list only, never an `.await` nor a hash.
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
    /// A hash of no one's password with the current parameters: unknown names are checked
    /// against it, so a sign-in takes as long whether the name exists or not.
    dummy: String,
}

/// Refused or failed, as the client sees it.
fn internal<E>(_: E) -> ErrorCode {
    ErrorCode::Internal
}

impl Passwords {
    /// `permits` hashes at once (0: one per core), `max_waiting` queued beyond them.
    pub fn new(memory_kib: u32, iterations: u32, permits: usize, max_waiting: usize) -> Self {
        let params = Params::new(memory_kib, iterations, 1, None).unwrap_or_default();
        let permits = match permits {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (mut salt, mut output) = ([0u8; 16], [0u8; 32]);
        rand::rng().fill_bytes(&mut salt);
        rand::rng().fill_bytes(&mut output);
        let salt = SaltString::encode_b64(&salt).expect("16 bytes encode as a salt");
        let dummy = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params)
                .try_into()
                .expect("valid argon2 parameters encode"),
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&output).expect("32 bytes is a valid output length")),
        }
        .to_string();
        Passwords {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            areas: Arc::new(Mutex::new((0..permits).map(|_| Vec::new()).collect())),
            dummy,
        }
    }

    /// A PHC string for a new password.
    pub async fn hash(&self, password: &str) -> Result<String, ErrorCode> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let password = password.as_bytes().to_vec();
        let blocks = self.params.block_count();
        let output = self
            .run(blocks, move |area| {
                Output::init_with(32, |out| {
                    argon2
                        .hash_password_into_with_memory(&password, &salt, out, area)
                        .map_err(|_| argon2::password_hash::Error::Crypto)
                })
            })
            .await?
            .map_err(internal)?;
        let salt = SaltString::encode_b64(&salt).map_err(internal)?;
        let params = (&self.params).try_into().map_err(internal)?;
        Ok(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        }
        .to_string())
    }

    /// Whether `password` matches `hash`; with no hash (an unknown name) it does the same
    /// work against the dummy and says no.
    pub async fn verify(&self, hash: Option<&str>, password: &str) -> Result<bool, ErrorCode> {
        let known = hash.is_some();
        let phc = PasswordHash::new(hash.unwrap_or(&self.dummy)).map_err(internal)?;
        let (Some(expected), Some(salt)) = (phc.hash, phc.salt) else {
            return Err(ErrorCode::Internal);
        };
        let params = Params::try_from(&phc).map_err(internal)?;
        let algorithm = Algorithm::try_from(phc.algorithm).map_err(internal)?;
        let version = phc
            .version
            .map_or(Ok(Version::V0x13), Version::try_from)
            .map_err(internal)?;
        let mut salt_buf = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buf).map_err(internal)?.to_vec();
        let blocks = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        let password = password.as_bytes().to_vec();
        let len = expected.len();
        let output = self
            .run(blocks, move |area| {
                Output::init_with(len, |out| {
                    argon2
                        .hash_password_into_with_memory(&password, &salt, out, area)
                        .map_err(|_| argon2::password_hash::Error::Crypto)
                })
            })
            .await?
            .map_err(internal)?;
        // `Output`'s equality is constant-time.
        Ok(known && output == expected)
    }

    /// Runs `f` on the blocking pool with a permit and its memory area of at least `blocks`
    /// (grown once to the largest parameters seen, then reused). The permit is released only
    /// once `f` has finished and the area is back, so the bound holds when callers give up.
    async fn run<T: Send + 'static>(
        &self,
        blocks: usize,
        f: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, ErrorCode> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Counted out again on drop, also when the caller gives up while waiting.
                let waiting = Waiting::enter(&self.waiting);
                if waiting.0 >= self.max_waiting {
                    return Err(ErrorCode::RateLimited);
                }
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(internal)?
            }
        };
        let areas = self.areas.clone();
        tokio::task::spawn_blocking(move || {
            let take = || areas.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut area = take().unwrap_or_default();
            if area.len() < blocks {
                area.resize(blocks, Block::default());
            }
            let result = f(&mut area);
            areas.lock().unwrap_or_else(|p| p.into_inner()).push(area);
            drop(permit);
            result
        })
        .await
        .map_err(internal)
    }
}

/// One request waiting for a hashing permit: its place in line, and the count it leaves.
struct Waiting<'a>(usize, &'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        Waiting(count.fetch_add(1, Ordering::AcqRel), count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::AcqRel);
    }
}
