//! One node per data directory. Two nodes on one directory would share its SQLite file and
//! keep taking the same rooms from each other (each start takes a new epoch); so `serve`
//! takes an exclusive lock on `<data_dir>/switchboard.lock` and writes its process id there,
//! and a second node refuses to start, naming the process that holds it. The kernel drops
//! the lock when the process ends, however it ends (kill -9 included).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::Context;

/// Held for the node's life; dropping it releases the directory.
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(dir: &Path) -> anyhow::Result<DataDirLock> {
        let path = dir.join("switchboard.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                writeln!(file, "{}", std::process::id())?;
                Ok(DataDirLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_owned(),
                    pid => format!("process {pid}"),
                };
                anyhow::bail!(
                    "data directory {} is in use by another node ({holder} holds {}); stop it, \
                     or give this node a data_dir of its own",
                    dir.display(),
                    path.display()
                )
            }
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}
