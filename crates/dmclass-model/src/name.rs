//! Name rules: object names become device-mapper names and path components
//! (`/dev/dmclass/<class>/<volume>`), so they are short and plain.

use crate::config::Name;
use crate::error::ModelError;

/// Longest accepted object name, in characters.
pub const NAME_MAX: usize = 32;

/// What a name may look like; quoted in every name error.
pub const NAME_ACCEPTED: &str =
    "1 to 32 characters from A-Z a-z 0-9 _ . + -, not starting with `-`, not `.` or `..`";

/// Longest accepted cluster node name (a host name), in characters.
pub const NODE_NAME_MAX: usize = 64;

/// What a node name may look like.
pub const NODE_ACCEPTED: &str = "a host name: 1 to 64 characters from A-Z a-z 0-9 _ . -";

impl Name {
    /// Check `text` against the naming rule.
    pub fn new(text: &str) -> Result<Name, ModelError> {
        let bad = |reason: String| ModelError::InvalidName {
            given: text.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(bad("it is empty".to_string()));
        }
        let count = text.chars().count();
        if count > NAME_MAX {
            return Err(bad(format!(
                "it has {count} characters, at most {NAME_MAX} are accepted"
            )));
        }
        if let Some(c) = text.chars().find(|c| !is_name_char(*c)) {
            return Err(bad(format!("character {c:?} is not accepted")));
        }
        if text.starts_with('-') {
            // As LVM: a leading `-` would make two (class, volume) pairs share one dm
            // name after hyphen doubling (`a-`/`b` vs `a`/`-b`), and reads as an option.
            return Err(bad("it must not start with `-`".to_string()));
        }
        if text == "." || text == ".." {
            // Names are path components under /dev/dmclass.
            return Err(bad("`.` and `..` are reserved path names".to_string()));
        }
        Ok(Name(text.to_string()))
    }
}

/// `[A-Za-z0-9_.+-]`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')
}

/// Check a cluster node name (host name characters, at most 64).
pub fn check_node_name(text: &str) -> Result<(), ModelError> {
    let bad = |reason: String| ModelError::InvalidName {
        given: text.to_string(),
        reason,
    };
    if text.is_empty() {
        return Err(bad("it is empty".to_string()));
    }
    if text.chars().count() > NODE_NAME_MAX {
        return Err(bad(format!(
            "at most {NODE_NAME_MAX} characters are accepted"
        )));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(bad(format!("character {c:?} is not accepted")));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "vol1-snap", "A.b+c_d-e", "1", "x-", &"x".repeat(32)] {
            assert_eq!(Name::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_with_a_reason() {
        for (text, fragment) in [
            ("", "empty"),
            (&"x".repeat(33) as &str, "33 characters"),
            ("a b", "' '"),
            ("a/b", "'/'"),
            ("é", "'é'"),
            (".", "reserved"),
            ("..", "reserved"),
            ("-x", "start with"),
        ] {
            let err = Name::new(text).unwrap_err().to_string();
            assert!(err.contains(fragment), "{text:?}: {err}");
        }
    }

    #[test]
    fn node_names() {
        assert!(check_node_name("node1.example").is_ok());
        assert!(check_node_name("node+1").is_err());
        assert!(check_node_name("").is_err());
        assert!(check_node_name(&"n".repeat(65)).is_err());
    }
}
