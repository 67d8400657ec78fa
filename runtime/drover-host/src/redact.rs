//! Keeping secrets out of what viewers read. The audit log, plans, logs,
//! errors and results of executions are readable by every viewer of
//! `drover serve`; the requests a plugin sends are not. So what is recorded
//! about a call is masked with `***`, while the call itself goes out with
//! the real values:
//!
//! - URLs: the user name and password (`https://***@host/`) and every query
//!   value (`?token=***&page=***`; names are kept);
//! - request headers whose name marks a credential ([`secret_header`]);
//! - argv words `--password=x` / `token=x` (the value) and the word after
//!   a flag such as `--password`;
//! - every value the call read through `secrets.get` ([`Secrets`]),
//!   wherever it appears: audit targets and reasons, plan entries, log
//!   lines and captured stdout/stderr, the error and the result.
//!
//! A plugin that transforms a secret (encodes, splits, hashes it) before
//! recording it defeats value matching: see docs/security.md.

use serde_json::Value;

/// What a masked value is replaced with.
pub const MASK: &str = "***";

/// Secret values shorter than this are not masked by value: they cannot
/// be told from ordinary text (a one-letter "secret" would mask every
/// occurrence of that letter).
pub const MIN_SECRET_LEN: usize = 4;

/// Words in a header name or an argv key that mark a credential.
const SECRET_WORDS: [&str; 7] = [
    "token", "secret", "key", "password", "passwd", "auth", "cookie",
];

/// Does a header named `name` carry a credential? `Authorization`,
/// `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`,
/// `X-Auth-Token` and any name containing token, secret, key, password,
/// passwd, auth or cookie, in any case.
pub fn secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// `url` with its user information and query values masked.
pub fn url(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let (base, query) = match before_fragment.find('?') {
        Some(at) => (&before_fragment[..at], Some(&before_fragment[at + 1..])),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(url.len());
    match base.find("://") {
        Some(at) => {
            let (scheme, rest) = base.split_at(at + 3);
            out.push_str(scheme);
            let end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            match authority.rfind('@') {
                Some(at) => {
                    out.push_str(MASK);
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(MASK);
                }
                None => out.push_str(pair),
            }
        }
    }
    out.push_str(fragment);
    out
}

/// An argv joined with spaces, credential-looking values masked.
pub fn argv(argv: &[String]) -> String {
    let mut out = Vec::with_capacity(argv.len());
    let mut mask_next = false;
    for word in argv {
        if mask_next {
            out.push(MASK.to_owned());
            mask_next = false;
            continue;
        }
        match word.split_once('=') {
            Some((key, _)) if secret_word(key) => out.push(format!("{key}={MASK}")),
            Some(_) => out.push(word.clone()),
            None => {
                mask_next = word.starts_with('-') && secret_word(word);
                out.push(word.clone());
            }
        }
    }
    out.join(" ")
}

fn secret_word(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// The secret values one call read, masked wherever they appear in what
/// is recorded about it.
#[derive(Default, Debug)]
pub struct Secrets {
    /// Longest first, so a secret containing another is masked whole.
    values: Vec<String>,
}

impl Secrets {
    /// Remembers a value read through `secrets.get`.
    pub fn add(&mut self, value: &str) {
        if value.len() < MIN_SECRET_LEN || self.values.iter().any(|v| v == value) {
            return;
        }
        self.values.push(value.to_owned());
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret value replaced by `***`.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
            }
        }
        out
    }

    /// Masks in place, in every string and object key of `value`.
    pub fn json(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) if self.values.iter().any(|v| s.contains(v.as_str())) => {
                *s = self.text(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.json(&mut v);
                    map.insert(self.text(&key), v);
                }
            }
            _ => {}
        }
    }

    /// Masks what an execution records: its result, error, log lines
    /// (captured stdout/stderr included) and plan.
    pub fn execution(&self, exec: &mut drover_core::Execution) {
        if self.is_empty() {
            return;
        }
        if let Some(result) = &mut exec.result {
            self.json(result);
        }
        if let Some(error) = &mut exec.error {
            *error = self.text(error);
        }
        self.logs(&mut exec.logs);
        if let Some(plan) = &mut exec.plan {
            self.plan(plan);
        }
    }

    /// Masks planned effects in place.
    pub fn plan(&self, plan: &mut [drover_core::PlannedEffect]) {
        if self.is_empty() {
            return;
        }
        for effect in plan {
            effect.target = self.text(&effect.target);
            effect.reason = self.text(&effect.reason);
            effect.operation = self.text(&effect.operation);
            self.json(&mut effect.simulated_result);
            if let Some(request) = &mut effect.request {
                self.json(request);
            }
        }
    }

    /// Masks log lines in place.
    pub fn logs(&self, logs: &mut [drover_core::LogLine]) {
        if self.is_empty() {
            return;
        }
        for line in logs {
            line.message = self.text(&line.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_and_query_values() {
        assert_eq!(
            url("http://user:hunter22@127.0.0.1:8080/a/b?token=hunter22&x=1&flag#frag"),
            "http://***@127.0.0.1:8080/a/b?token=***&x=***&flag#frag"
        );
        assert_eq!(url("https://h/p"), "https://h/p");
        assert_eq!(url("https://a@b@h/p?q"), "https://***@h/p?q");
        assert_eq!(url("https://h?k="), "https://h?k=***");
        assert_eq!(url("not a url?x=y"), "not a url?x=***");
        assert_eq!(
            url("http://h/path@x"),
            "http://h/path@x",
            "an @ in the path"
        );
    }

    #[test]
    fn secret_headers_by_name() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "Set-Cookie",
            "X-Api-Key",
            "X-Auth-Token",
            "X-Vault-Token",
            "My-Secret",
            "DB-PASSWORD",
        ] {
            assert!(secret_header(name), "{name}");
        }
        for name in ["Content-Type", "Accept", "User-Agent", "X-Request-Id"] {
            assert!(!secret_header(name), "{name}");
        }
    }

    #[test]
    fn argv_values_after_secret_flags() {
        let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            argv(&words(
                "mysql --password=hunter22 -u root --api-key k1 TOKEN=x ls"
            )),
            "mysql --password=*** -u root --api-key *** TOKEN=*** ls"
        );
        assert_eq!(argv(&words("uptime")), "uptime");
    }

    #[test]
    fn secret_values_are_masked_everywhere() {
        let mut s = Secrets::default();
        s.add("hunter22");
        s.add("abc");
        s.add("hunter22-long");
        assert_eq!(
            s.text("a hunter22-long and hunter22, abc"),
            "a *** and ***, abc"
        );
        let mut v = serde_json::json!({"k": ["x hunter22"], "hunter22": 1, "n": 2});
        s.json(&mut v);
        assert_eq!(v, serde_json::json!({"k": ["x ***"], "***": 1, "n": 2}));
    }
}
