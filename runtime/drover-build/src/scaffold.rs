//! `drover pack new NAME --lang python|js|rust`: a pack that builds, installs
//! and runs as generated.
//!
//! One action (`hello`, with the `log` capability), a trigger type and a
//! rule that runs the action for it, a trigger instance under `tests/` to
//! try the rule with, a README saying how, and a `.gitignore` for build
//! output. The directory must not exist: nothing is ever overwritten.

use std::fs;
use std::path::{Path, PathBuf};

use drover_pack::Language;

use crate::BuildError;

/// The files of a new pack, relative to its directory.
pub fn files(name: &str, lang: Language) -> Result<Vec<(String, String)>, BuildError> {
    let (source, capabilities, action): (&str, &str, Vec<(String, String)>) = match lang {
        Language::Python => (
            "actions/hello.py",
            "[log, wasi:filesystem, wasi:sockets]",
            vec![("actions/hello.py".into(), python_action(name))],
        ),
        Language::Rust => (
            "plugins/hello",
            "[log]",
            vec![
                ("plugins/hello/Cargo.toml".into(), rust_cargo(name)),
                ("plugins/hello/src/lib.rs".into(), rust_action(name)),
                ("wit/plugin.wit".into(), crate::world::PLUGIN_WIT.into()),
            ],
        ),
        Language::JavaScript => (
            "actions/hello.js",
            "[log, wasi:filesystem]",
            vec![("actions/hello.js".into(), js_action(name))],
        ),
    };
    let python_note = match lang {
        Language::Python => {
            "    # Python's runtime imports wasi:filesystem and wasi:sockets; both are\n    \
             # inert in drover's sandbox (no directory, no socket), declared so the\n    \
             # install check lets the component in.\n"
        }
        Language::JavaScript => {
            "    # The JavaScript runtime imports wasi:filesystem; it is inert in\n    \
             # drover's sandbox (no directory), declared so the install check lets\n    \
             # the component in.\n"
        }
        Language::Rust => "",
    };
    let manifest = format!(
        "name: {name}\n\
         version: 0.1.0\n\
         description: Greets whoever a {name}.hello event names; a new pack to make your own.\n\
         \n\
         triggers:\n  \
           hello:\n    \
             description: Someone to greet.\n    \
             payload:\n      \
               name: {{type: string, required: true, description: Who to greet.}}\n\
         \n\
         plugins:\n  \
           hello:\n    \
             kind: action\n    \
             description: Greets someone, and logs it.\n    \
             # `drover pack build` builds the component from the source.\n    \
             source: {source}\n    \
             component: components/hello.wasm\n    \
             idempotent: true\n    \
             parameters:\n      \
               name: {{type: string, required: true, description: Who to greet.}}\n\
         {python_note}    \
             capabilities: {capabilities}\n"
    );
    let rule = format!(
        "# Greet whoever a {name}.hello event names. Try it offline:\n\
         #\n\
         #   drover rule test --rule rules/on_hello.yaml --trigger-instance tests/hello.json\n\
         name: on_hello\n\
         pack: {name}\n\
         description: Greet whoever a hello event names\n\
         enabled: true\n\
         \n\
         trigger:\n  \
           type: {name}.hello\n\
         \n\
         action:\n  \
           ref: {name}.hello\n  \
           parameters:\n    \
             name: \"{{{{ trigger.name }}}}\"\n"
    );
    let test = format!(
        "{{\n  \"trigger\": \"{name}.hello\",\n  \"payload\": {{\n    \"name\": \"world\"\n  }}\n}}\n"
    );
    let pack_test = format!(
        "# The pack's tests, run by `drover pack test` on a scratch database\n\
         # (docs/pack-authoring.md, \"Testing a pack\"); `drover pack build` runs\n\
         # them too.\n\
         description: The hello rule and action.\n\
         \n\
         tests:\n  \
           - name: a hello event greets whoever it names\n    \
             trigger:\n      \
               type: {name}.hello\n      \
               payload: {{name: world}}\n    \
             expect:\n      \
               matches:\n        \
                 - rule: on_hello\n          \
                   action: {name}.hello\n          \
                   parameters: {{name: world}}\n\
         \n  \
           - name: hello greets, as a dry run\n    \
             run: hello\n    \
             parameters: {{name: world}}\n    \
             expect:\n      \
               status: succeeded\n      \
               result: {{greeting: \"hello, world\", dry_run: true}}\n"
    );
    let build_dirs = match lang {
        Language::Rust => "/components/\n/dist/\n/target/\n",
        Language::JavaScript => "/components/\n/dist/\n/node_modules/\n",
        _ => "/components/\n/dist/\n__pycache__/\n",
    };
    let mut out = vec![
        ("pack.yaml".to_owned(), manifest),
        ("rules/on_hello.yaml".to_owned(), rule),
        ("tests/hello.json".to_owned(), test),
        ("tests/hello.yaml".to_owned(), pack_test),
        ("README.md".to_owned(), readme(name, lang, source)),
        (
            ".gitignore".to_owned(),
            format!("# Build output (drover pack build)\n{build_dirs}"),
        ),
    ];
    out.extend(action);
    Ok(out)
}

/// Creates pack `name` in `dir` (which must not exist) and returns the
/// files written.
pub fn new_pack(name: &str, lang: Language, dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    if !drover_pack::is_name(name) {
        return Err(BuildError::Scaffold(format!(
            "invalid pack name {name:?}: use lowercase letters, digits and _, starting with a \
             letter, at most {} characters (e.g. netcheck)",
            drover_pack::MAX_NAME_LEN
        )));
    }
    if let Some(why) = drover_pack::reserved_name(name) {
        return Err(BuildError::Scaffold(format!(
            "{name:?} is reserved ({why}) and cannot name a pack: choose another name, e.g. \
             {:?}",
            format!("{name}_pack")
        )));
    }
    let files = files(name, lang)?;
    if fs::symlink_metadata(dir).is_ok() {
        return Err(BuildError::Scaffold(format!(
            "{} already exists: drover pack new never overwrites; choose another --dir or \
             remove it",
            dir.display()
        )));
    }
    // create_dir (not _all) for the pack itself: fails if it appeared meanwhile.
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| BuildError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    fs::create_dir(dir).map_err(|source| BuildError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| BuildError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        fs::write(&path, text).map_err(|source| BuildError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn python_action(name: &str) -> String {
    format!(
        r#""""{name}.hello: greets someone, and logs it.

Parameters arrive validated as a dict (see pack.yaml); the return value is
the execution's result. Import at the top of the module: only what is
imported when the plugin is built exists when it runs.
"""

from drover import action, log


@action
def run(params, ctx):
    greeting = f"hello, {{params['name']}}"
    log.info(greeting)
    return {{"greeting": greeting, "dry_run": ctx.dry_run}}
"#
    )
}

fn js_action(name: &str) -> String {
    format!(
        r#"// {name}.hello: greets someone, and logs it.
//
// Parameters arrive validated as an object (see pack.yaml); the return value
// is the execution's result. A thrown error fails the execution with its
// stack. Import host interfaces from "drover": only those pack.yaml declares.

import {{ action, log }} from "drover";

action((params, ctx) => {{
  const greeting = `hello, ${{params.name}}`;
  log.info(greeting);
  return {{ greeting, dry_run: ctx.dryRun }};
}});
"#
    )
}

fn rust_cargo(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}-hello"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = "0.63"
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true
strip = true

# Its own workspace, wherever the pack lives.
[workspace]
"#
    )
}

fn rust_action(name: &str) -> String {
    format!(
        r#"//! `{name}.hello`: greets someone, and logs it.

wit_bindgen::generate!({{
    path: "../../wit",
    world: "action",
}});

// `Context` and `Error` come with the world (its `use types.{{...}}`).
use drover::plugin::log;

struct Hello;

impl Guest for Hello {{
    fn run(input: String, ctx: Context) -> Result<String, Error> {{
        let params: serde_json::Value =
            serde_json::from_str(&input).map_err(|e| Error::Invalid(e.to_string()))?;
        let name = params["name"].as_str().unwrap_or("world");
        let greeting = format!("hello, {{name}}");
        log::log(log::Level::Info, &greeting);
        Ok(serde_json::json!({{"greeting": greeting, "dry_run": ctx.dry_run}}).to_string())
    }}
}}

export!(Hello);
"#
    )
}

fn readme(name: &str, lang: Language, source: &str) -> String {
    let toolchain = match lang {
        Language::Python => "componentize-py (`python3 -m pip install componentize-py==0.25.1`)",
        Language::JavaScript => {
            "componentize-js and Node.js (`npm install --prefix ~/.cache/drover/npm \
             @bytecodealliance/componentize-js@0.23.0`, or `npm install` it in or above this \
             directory, or name it with DROVER_COMPONENTIZE_JS)"
        }
        _ => "cargo with the wasm32-wasip2 target (`rustup target add wasm32-wasip2`)",
    };
    format!(
        r#"# {name}

A drover pack. Its action `{name}.hello` ({source}) greets someone and logs
it; the rule `rules/on_hello.yaml` runs it for every `{name}.hello` event.

Building needs {toolchain}.

```sh
drover pack build                 # components/hello.wasm from {source}
drover pack test                  # tests/hello.yaml: the rule matches, the action greets (dry run)
drover rule test --rule rules/on_hello.yaml --trigger-instance tests/hello.json
drover pack install .             # shadowed: its runs are dry runs until promoted
drover run {name}.hello name=world
drover pack promote {name} --reason "reviewed"
```

Each host interface the action uses must be declared under `capabilities:`
in pack.yaml (and, for effects, granted by an operator); see drover's
docs/pack-authoring.md.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_manifest_is_valid_and_names_its_source() {
        for lang in [Language::Python, Language::JavaScript, Language::Rust] {
            let files = files("netcheck", lang).unwrap();
            let manifest = &files.iter().find(|(p, _)| p == "pack.yaml").unwrap().1;
            let pack = drover_pack::parse_manifest(Path::new("pack.yaml"), manifest).unwrap();
            let hello = pack.plugin("hello").unwrap();
            assert_eq!(hello.source.as_ref().unwrap().language, lang);
            let source = &hello.source.as_ref().unwrap().path;
            assert!(
                files
                    .iter()
                    .any(|(p, _)| p == source || p.starts_with(&format!("{source}/"))),
                "{source} is not generated"
            );
            assert_eq!(pack.trigger("hello").unwrap().name, "hello");
        }
    }

    #[test]
    fn refuses_bad_names_and_existing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let err = |name: &str, at: &Path| {
            new_pack(name, Language::Python, at)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err("Net-Check", &dir.path().join("x")).starts_with("invalid pack name \"Net-Check\""),
        );
        assert!(err("../evil", &dir.path().join("x")).starts_with("invalid pack name"));
        assert!(err("system", &dir.path().join("x")).contains("is reserved"));
        assert_eq!(
            err("netcheck", dir.path()),
            format!(
                "{} already exists: drover pack new never overwrites; choose another --dir or \
                 remove it",
                dir.path().display()
            )
        );
        // A dangling symlink counts as existing.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/nonexistent", &link).unwrap();
        assert!(err("netcheck", &link).contains("already exists"));
        assert!(!dir.path().join("x").exists());
        let made = new_pack("netcheck", Language::Python, &dir.path().join("netcheck")).unwrap();
        assert!(made.iter().any(|p| p.ends_with("actions/hello.py")));
    }
}
