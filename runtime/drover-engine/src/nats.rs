//! A small synchronous NATS subscriber: the host-owned side of a sensor's
//! `subscriptions: [{nats: SUBJECT}]`. Speaks the core text protocol
//! (`INFO`, `CONNECT`, `SUB`, `MSG`, `PING`/`PONG`) over plain TCP, with
//! one connection and thread per subscription, reconnecting with a capped
//! backoff. No TLS, auth or JetStream: enough for a local `nats-server`.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How often a blocked read looks at the stop flag.
const READ_SLICE: Duration = Duration::from_millis(200);
/// Largest message accepted (nats-server's default max_payload is 1 MiB).
const MAX_PAYLOAD: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("invalid NATS URL {0:?}: write nats://HOST:PORT")]
    Url(String),
    #[error("NATS {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("NATS {addr}: protocol error: {message}")]
    Protocol { addr: String, message: String },
}

/// `nats://host:port` (or `host:port`) as `host:port`; the port defaults to 4222.
pub fn address(url: &str) -> Result<String, NatsError> {
    let rest = url.strip_prefix("nats://").unwrap_or(url);
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err(NatsError::Url(url.to_owned()));
    }
    Ok(
        if rest
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            rest.to_owned()
        } else {
            format!("{rest}:4222")
        },
    )
}

/// One subscription's connection.
pub struct Subscriber {
    addr: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    line: Vec<u8>,
}

impl Subscriber {
    /// Connects to `addr` and subscribes to `subject`.
    pub fn connect(addr: &str, subject: &str) -> Result<Subscriber, NatsError> {
        let io = |source| NatsError::Io {
            addr: addr.to_owned(),
            source,
        };
        let stream = TcpStream::connect(addr).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io)?;
        let writer = stream.try_clone().map_err(io)?;
        let mut sub = Subscriber {
            addr: addr.to_owned(),
            reader: BufReader::new(stream),
            writer,
            line: Vec::new(),
        };
        let info = sub.read_line_blocking()?;
        if !info.starts_with("INFO ") {
            return Err(sub.protocol(format!("expected INFO, got {info:?}")));
        }
        let hello = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"drover\",\"lang\":\"rust\",\
             \"version\":\"{}\",\"protocol\":1,\"headers\":false}}\r\nSUB {subject} 1\r\nPING\r\n",
            env!("CARGO_PKG_VERSION")
        );
        sub.writer.write_all(hello.as_bytes()).map_err(io)?;
        // The server answers PONG once CONNECT and SUB are processed, or
        // -ERR if it refuses them.
        loop {
            let line = sub.read_line_blocking()?;
            if line == "PONG" {
                break;
            }
            if line.starts_with("-ERR") {
                return Err(sub.protocol(line));
            }
        }
        sub.reader
            .get_ref()
            .set_read_timeout(Some(READ_SLICE))
            .map_err(io)?;
        Ok(sub)
    }

    fn protocol(&self, message: String) -> NatsError {
        NatsError::Protocol {
            addr: self.addr.clone(),
            message,
        }
    }

    fn io(&self, source: std::io::Error) -> NatsError {
        NatsError::Io {
            addr: self.addr.clone(),
            source,
        }
    }

    fn read_line_blocking(&mut self) -> Result<String, NatsError> {
        loop {
            if let Some(line) = self.read_line()? {
                return Ok(line);
            }
        }
    }

    /// A control line without its CRLF; `None` when the read timed out
    /// (what was read so far is kept for the next call).
    fn read_line(&mut self) -> Result<Option<String>, NatsError> {
        match self.reader.read_until(b'\n', &mut self.line) {
            Ok(0) => Err(self.io(ErrorKind::UnexpectedEof.into())),
            Ok(_) if self.line.ends_with(b"\n") => {
                let text = String::from_utf8_lossy(&self.line).trim_end().to_owned();
                self.line.clear();
                Ok(Some(text))
            }
            Ok(_) => Ok(None),
            Err(e) if is_timeout(&e) => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// The next message's payload, answering pings on the way; `None`
    /// when nothing arrived within a read slice.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, NatsError> {
        let Some(line) = self.read_line()? else {
            return Ok(None);
        };
        if line == "PING" {
            self.writer.write_all(b"PONG\r\n").map_err(|e| self.io(e))?;
            return Ok(None);
        }
        if line.starts_with("-ERR") {
            return Err(self.protocol(line));
        }
        let Some(args) = line.strip_prefix("MSG ") else {
            // +OK, PONG, INFO updates.
            return Ok(None);
        };
        let size: usize = args
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n <= MAX_PAYLOAD)
            .ok_or_else(|| self.protocol(format!("bad MSG line {line:?}")))?;
        let mut payload = vec![0; size + 2];
        let mut filled = 0;
        while filled < payload.len() {
            match self.reader.read(&mut payload[filled..]) {
                Ok(0) => return Err(self.io(ErrorKind::UnexpectedEof.into())),
                Ok(n) => filled += n,
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        payload.truncate(size);
        Ok(Some(payload))
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::address;

    #[test]
    fn addresses() {
        assert_eq!(address("nats://127.0.0.1:4333").unwrap(), "127.0.0.1:4333");
        assert_eq!(address("localhost").unwrap(), "localhost:4222");
        assert_eq!(address("nats://localhost/").unwrap(), "localhost:4222");
        assert!(address("nats://user@host:1").is_err());
        assert!(address("").is_err());
    }
}
