//! Submitted forms as ordered name/value pairs: a form may repeat a name (checkbox lists,
//! bulk selections), which a map would lose.

pub type Pairs = Vec<(String, String)>;

/// The first value submitted under `name`.
pub fn get<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
