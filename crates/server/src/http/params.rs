//! OAuth request parameters from a query string or a form body. RFC 6749 §3.1: a
//! parameter sent twice is an error, and a parameter sent empty counts as absent.

use std::collections::HashMap;

/// Parsed `application/x-www-form-urlencoded` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: HashMap<String, String>,
    duplicated: Option<String>,
}

impl Params {
    pub fn parse(raw: &[u8]) -> Params {
        let mut values = HashMap::new();
        let mut duplicated = None;
        for (k, v) in url::form_urlencoded::parse(raw) {
            if v.is_empty() {
                continue;
            }
            if values.insert(k.to_string(), v.to_string()).is_some() && duplicated.is_none() {
                duplicated = Some(k.to_string());
            }
        }
        Params { values, duplicated }
    }

    /// A parameter's value, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The first parameter that appeared more than once.
    pub fn duplicated(&self) -> Option<&str> {
        self.duplicated.as_deref()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    pub fn insert(&mut self, name: &str, value: String) {
        self.values.insert(name.to_owned(), value);
    }

    /// Re-encodes the parameters (sorted, for stable URLs).
    pub fn to_query(&self) -> String {
        let mut keys: Vec<&String> = self.values.keys().collect();
        keys.sort();
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for k in keys {
            ser.append_pair(k, &self.values[k]);
        }
        ser.finish()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_empties() {
        let p = Params::parse(b"a=1&b=&a=2&c=x%20y");
        assert_eq!(p.duplicated(), Some("a"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
    }

    #[test]
    fn round_trips_sorted() {
        let p = Params::parse(b"z=1&a=h%26i");
        assert_eq!(p.to_query(), "a=h%26i&z=1");
    }
}
