//! `hostile.escape`: tries to read and write host files, list `/` and open
//! a TCP connection to `127.0.0.1:port` (default 22), and reports each
//! outcome as `"ok: ..."` or `"error: ..."`. With no WASI grants every
//! attempt must fail. It never returns file contents.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    #[serde(default = "default_port")]
    port: u16,
}

fn default_port() -> u16 {
    22
}

fn outcome<T, E: std::fmt::Display>(result: Result<T, E>, ok: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => format!("ok: {}", ok(value)),
        Err(err) => format!("error: {err}"),
    }
}

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let read_passwd = outcome(std::fs::read_to_string("/etc/passwd"), |s| {
        format!("read {} bytes", s.len())
    });
    let write_tmp = outcome(std::fs::write("/tmp/drover-escape", b"escaped\n"), |()| {
        "wrote /tmp/drover-escape".to_owned()
    });
    let read_dir_root = outcome(std::fs::read_dir("/"), |entries| {
        format!("{} entries", entries.count())
    });
    let tcp_connect = outcome(
        std::net::TcpStream::connect(("127.0.0.1", input.port)),
        |_stream| format!("connected to 127.0.0.1:{}", input.port),
    );
    Ok(json!({
        "read_passwd": read_passwd,
        "write_tmp": write_tmp,
        "read_dir_root": read_dir_root,
        "tcp_connect": tcp_connect,
    }))
}

drover_sdk::export_action!(run);
