//! SQLite: [`AuthStore`] over the tables of [`crate::auth`].

use crate::auth::*;
use crate::{Result, SqliteStore, StoreError};
use drover_core::now_ms;
use rusqlite::{OptionalExtension, params};

impl AuthStore for SqliteStore {
    fn create_first_user(&self, name: &str, role: Role, password_hash: &str) -> Result<bool> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.write(move |conn| {
            let now = now_ms();
            Ok(conn.execute(
                "INSERT INTO users (name, role, password_hash, created_at, updated_at)
                 SELECT ?1, ?2, ?3, ?4, ?4 WHERE NOT EXISTS (SELECT 1 FROM users)",
                params![name, role.as_str(), hash, now],
            )? > 0)
        })
    }

    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<bool> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.write(move |conn| {
            let now = now_ms();
            Ok(conn.execute(
                "INSERT OR IGNORE INTO users (name, role, password_hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![name, role.as_str(), hash, now],
            )? > 0)
        })
    }

    fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, hash, now_ms()],
            )?;
            conn.execute("DELETE FROM sessions WHERE user = ?1", [&name])?;
            Ok(n > 0)
        })
    }

    fn user_credentials(&self, name: &str) -> Result<Option<(Role, String)>> {
        let row: Option<(String, String)> = self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT role, password_hash FROM users WHERE name = ?1")?
                .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })?;
        row.map(|(role, hash)| Ok((role_of(&role)?, hash)))
            .transpose()
    }

    fn list_users(&self) -> Result<Vec<User>> {
        let rows: Vec<(String, String, i64, i64)> = self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, role, created_at, updated_at FROM users ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        rows.into_iter()
            .map(|(name, role, created_at_ms, updated_at_ms)| {
                Ok(User {
                    name,
                    role: role_of(&role)?,
                    created_at_ms,
                    updated_at_ms,
                })
            })
            .collect()
    }

    fn insert_token(&self, token: ApiToken, hash: &str) -> Result<()> {
        let hash = hash.to_owned();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO api_tokens (id, name, role, hash, created_at, created_by, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
                params![
                    token.id,
                    token.name,
                    token.role.as_str(),
                    hash,
                    token.created_at_ms,
                    token.created_by
                ],
            )?;
            Ok(())
        })
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>> {
        let mut found = self.query_tokens(
            "SELECT id, name, role, created_at, created_by, revoked_at FROM api_tokens
             WHERE hash = ?1 AND revoked_at IS NULL",
            hash,
        )?;
        Ok(found.pop())
    }

    fn list_tokens(&self, include_revoked: bool) -> Result<Vec<ApiToken>> {
        self.query_tokens(
            "SELECT id, name, role, created_at, created_by, revoked_at FROM api_tokens
             WHERE ?1 OR revoked_at IS NULL ORDER BY id DESC",
            include_revoked,
        )
    }

    fn revoke_token(&self, id: &str) -> Result<Option<ApiToken>> {
        let owned = id.to_owned();
        let at = now_ms();
        let changed = self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![owned, at],
            )?)
        })?;
        if changed == 0 {
            return Ok(None);
        }
        let mut found = self.query_tokens(
            "SELECT id, name, role, created_at, created_by, revoked_at FROM api_tokens
             WHERE id = ?1",
            id,
        )?;
        Ok(found.pop())
    }

    fn insert_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf: &str,
        expires_at_ms: i64,
    ) -> Result<()> {
        let (id_hash, user, csrf) = (id_hash.to_owned(), user.to_owned(), csrf.to_owned());
        self.write(move |conn| {
            let now = now_ms();
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
            conn.execute(
                "INSERT INTO sessions (id_hash, user, csrf, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id_hash, user, csrf, now, expires_at_ms],
            )?;
            Ok(())
        })
    }

    fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        let row: Option<(String, String, String, i64)> = self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT s.user, u.role, s.csrf, s.expires_at
                     FROM sessions s JOIN users u ON u.name = s.user
                     WHERE s.id_hash = ?1 AND s.expires_at > ?2",
                )?
                .query_row(params![id_hash, now_ms()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?)
        })?;
        row.map(|(user, role, csrf, expires_at_ms)| {
            Ok(SessionRow {
                user,
                role: role_of(&role)?,
                csrf,
                expires_at_ms,
            })
        })
        .transpose()
    }

    fn delete_session(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_owned();
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
            Ok(())
        })
    }
}

impl SqliteStore {
    fn query_tokens(&self, sql: &str, arg: impl rusqlite::ToSql) -> Result<Vec<ApiToken>> {
        type Row = (String, String, String, i64, String, Option<i64>);
        let rows: Vec<Row> = self.read(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map([arg], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        rows.into_iter()
            .map(
                |(id, name, role, created_at_ms, created_by, revoked_at_ms)| {
                    Ok(ApiToken {
                        id,
                        name,
                        role: role_of(&role)?,
                        created_at_ms,
                        created_by,
                        revoked_at_ms,
                    })
                },
            )
            .collect()
    }
}

fn role_of(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown role {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("d.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("viewer, operator or admin")
        );
    }

    #[test]
    fn only_the_first_user_is_created_on_an_empty_table() {
        let (_d, s) = store();
        assert!(s.create_first_user("admin", Role::Admin, "h1").unwrap());
        assert!(!s.create_first_user("admin2", Role::Admin, "h2").unwrap());
        assert_eq!(s.list_users().unwrap().len(), 1);
        assert!(!s.create_user("admin", Role::Viewer, "h3").unwrap());
        assert_eq!(
            s.user_credentials("admin").unwrap(),
            Some((Role::Admin, "h1".to_owned()))
        );
    }

    #[test]
    fn revoked_tokens_are_not_found_and_password_changes_end_sessions() {
        let (_d, s) = store();
        let token = ApiToken {
            id: "01T".into(),
            name: "ci".into(),
            role: Role::Operator,
            created_at_ms: 1,
            created_by: "user:t".into(),
            revoked_at_ms: None,
        };
        s.insert_token(token, "abc").unwrap();
        assert_eq!(
            s.token_by_hash("abc").unwrap().unwrap().role,
            Role::Operator
        );
        assert!(
            s.revoke_token("01T")
                .unwrap()
                .unwrap()
                .revoked_at_ms
                .is_some()
        );
        assert!(s.revoke_token("01T").unwrap().is_none());
        assert!(s.token_by_hash("abc").unwrap().is_none());
        assert_eq!(s.list_tokens(true).unwrap().len(), 1);
        assert_eq!(s.list_tokens(false).unwrap().len(), 0);

        s.create_user("ann", Role::Viewer, "h").unwrap();
        s.insert_session("sid", "ann", "c", now_ms() + 60_000)
            .unwrap();
        assert_eq!(s.session("sid").unwrap().unwrap().csrf, "c");
        s.set_user_password("ann", "h2").unwrap();
        assert!(s.session("sid").unwrap().is_none());
    }
}
