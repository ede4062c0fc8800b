//! Printing results: one JSON object with `--json`, readable lines otherwise.

use serde_json::Value;

/// Prints `value` as one JSON line, or `human` for people.
pub fn report(json: bool, value: &Value, human: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", human());
    }
}
