//! Local users: a name, a role and an Argon2id hash, one postcard record each in
//! the store's `auth_users` table, keyed by name.

use serde::{Deserialize, Serialize};

use super::{check_name, password, AuthError, Result, Role};
use crate::store::Store;

pub const TABLE: &str = "auth_users";

/// The table holds at most this many users.
pub const MAX_USERS: u64 = 10_000;

/// A user. Neither serializable nor `Debug`-printed with its hash: [`User::public`]
/// is what may be shown.
#[derive(Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// PHC string; never shown.
    pub password_hash: String,
    pub created_unix_ms: i64,
    pub password_changed_unix_ms: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl User {
    /// What may be shown of a user: everything but the hash.
    pub fn public(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "role": self.role,
            "created": crate::time::rfc3339_seconds(self.created_unix_ms),
            "password_changed": crate::time::rfc3339_seconds(self.password_changed_unix_ms),
        })
    }
}

/// The stored form: postcard of every field, the hash included (the JSON
/// `Serialize` of [`User`] is not what is stored).
#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    role: Role,
    password_hash: String,
    created_unix_ms: i64,
    password_changed_unix_ms: i64,
}

fn encode(u: &User) -> Vec<u8> {
    postcard::to_allocvec(&Stored {
        name: u.name.clone(),
        role: u.role,
        password_hash: u.password_hash.clone(),
        created_unix_ms: u.created_unix_ms,
        password_changed_unix_ms: u.password_changed_unix_ms,
    })
    .expect("postcard encodes plain structs")
}

fn decode(bytes: &[u8]) -> Option<User> {
    let s: Stored = postcard::from_bytes(bytes).ok()?;
    Some(User {
        name: s.name,
        role: s.role,
        password_hash: s.password_hash,
        created_unix_ms: s.created_unix_ms,
        password_changed_unix_ms: s.password_changed_unix_ms,
    })
}

/// One user; `None` when there is none of that name (or its record is damaged:
/// then nobody can log in as it until it is set again).
pub fn get(store: &Store, name: &str) -> Result<Option<User>> {
    let Some(bytes) = store.read_record(TABLE, name.as_bytes())? else {
        return Ok(None);
    };
    let user = decode(&bytes);
    if user.is_none() {
        tracing::warn!("user {name:?}: its stored record does not decode; set its password again");
    }
    Ok(user)
}

/// Every user, by name.
pub fn list(store: &Store) -> Result<Vec<User>> {
    let rows = store.scan_records(TABLE, &[], None, MAX_USERS as usize, false)?;
    Ok(rows.iter().filter_map(|(_, v)| decode(v)).collect())
}

/// Adds a user; refused when the name is taken.
pub fn add(store: &Store, name: &str, role: Role, password: &str) -> Result<User> {
    check_name("user name", name)?;
    if get(store, name)?.is_some() {
        return Err(AuthError::Exists(format!(
            "a user named {name:?} exists already"
        )));
    }
    if store.count_records(TABLE)? >= MAX_USERS {
        return Err(AuthError::Full(format!(
            "there are {MAX_USERS} users already; delete some first"
        )));
    }
    let now = crate::unix_ms_now();
    let user = User {
        name: name.to_string(),
        role,
        password_hash: password::hash(password)?,
        created_unix_ms: now,
        password_changed_unix_ms: now,
    };
    store.write_records(&[(TABLE, name.as_bytes(), Some(&encode(&user)))])?;
    Ok(user)
}

/// Sets a user's password and, when given, role.
pub fn update(
    store: &Store,
    name: &str,
    role: Option<Role>,
    password: Option<&str>,
) -> Result<User> {
    let mut user = get(store, name)?
        .ok_or_else(|| AuthError::NotFound(format!("no user is named {name:?}")))?;
    if let Some(role) = role {
        user.role = role;
    }
    if let Some(p) = password {
        user.password_hash = password::hash(p)?;
        user.password_changed_unix_ms = crate::unix_ms_now();
    }
    store.write_records(&[(TABLE, name.as_bytes(), Some(&encode(&user)))])?;
    Ok(user)
}

pub fn delete(store: &Store, name: &str) -> Result<()> {
    if store.read_record(TABLE, name.as_bytes())?.is_none() {
        return Err(AuthError::NotFound(format!("no user is named {name:?}")));
    }
    store.write_records(&[(TABLE, name.as_bytes(), None)])?;
    Ok(())
}

/// The user `name` if `password` is theirs. An unknown user costs the same time as
/// a wrong password.
pub fn check_password(store: &Store, name: &str, password: &str) -> Result<Option<User>> {
    match get(store, name)? {
        Some(user) if password::verify(&user.password_hash, password) => Ok(Some(user)),
        Some(_) => Ok(None),
        None => {
            password::verify_nothing(password);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Retention;

    #[test]
    fn users_are_added_checked_changed_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Retention::default()).unwrap();
        add(&store, "ann", Role::Operator, "a long password").unwrap();
        assert!(matches!(
            add(&store, "ann", Role::Admin, "another password"),
            Err(AuthError::Exists(_))
        ));
        assert!(add(&store, "bad name", Role::Admin, "a long password").is_err());
        assert_eq!(
            check_password(&store, "ann", "a long password")
                .unwrap()
                .unwrap()
                .role,
            Role::Operator
        );
        assert!(check_password(&store, "ann", "wrong password")
            .unwrap()
            .is_none());
        assert!(check_password(&store, "bob", "a long password")
            .unwrap()
            .is_none());
        update(&store, "ann", Some(Role::Admin), Some("a new password")).unwrap();
        assert!(check_password(&store, "ann", "a long password")
            .unwrap()
            .is_none());
        assert_eq!(
            check_password(&store, "ann", "a new password")
                .unwrap()
                .unwrap()
                .role,
            Role::Admin
        );
        let listed = list(&store).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!listed[0].public().to_string().contains("argon2"));
        delete(&store, "ann").unwrap();
        assert!(matches!(delete(&store, "ann"), Err(AuthError::NotFound(_))));
        // A damaged record: nobody logs in as it, the list skips it.
        store
            .write_records(&[(TABLE, b"eve", Some(&[0xff][..]))])
            .unwrap();
        assert!(check_password(&store, "eve", "a long password")
            .unwrap()
            .is_none());
        assert!(list(&store).unwrap().is_empty());
    }
}
