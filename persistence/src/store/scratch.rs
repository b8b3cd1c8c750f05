//! `ScratchDatabase`: a Postgres database created for one test or benchmark run and dropped
//! afterwards, so runs never collide.

use tokio_postgres::NoTls;

use super::StoreError;

/// The admin URL tests use: `SWITCHBOARD_TEST_POSTGRES`, by default the local server's
/// `postgres` database with trust auth.
pub fn admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists until this value is dropped.
pub struct ScratchDatabase {
    pub name: String,
    /// URL of the new database.
    pub url: String,
    admin: String,
}

impl ScratchDatabase {
    /// Creates `sb_<tag>_<pid>_<nanos>` on the server `admin` points at.
    pub async fn create(admin: &str, tag: &str) -> Result<ScratchDatabase, StoreError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("sb_{tag}_{}_{nanos}", std::process::id());
        let (client, conn) = tokio_postgres::connect(admin, NoTls)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot reach Postgres at {admin}: {e}")))?;
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Ok(ScratchDatabase {
            url: format!("{base}/{name}"),
            name,
            admin: admin.to_owned(),
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Its own thread and runtime: the caller's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
