//! The benchmark's load generator: a lean HTTP/1.1 client over keep-alive connections, so that the client
//! costs a few microseconds per request and the figures measure the server, not the generator (both share
//! the machine's two cores). One connection serves one request at a time, like a browser tab or a mirror.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A keep-alive connection to one server.
pub struct Connection {
    stream: TcpStream,
    host: String,
    /// Bytes read past the end of the previous response (none with one request at a time, but kept).
    buffer: Vec<u8>,
    request: Vec<u8>,
}

/// A response: its status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl Connection {
    /// Connects to `host:port` (as in a base URL `http://host:port`).
    pub async fn connect(host: &str) -> io::Result<Connection> {
        let stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, host: host.to_string(), buffer: Vec::with_capacity(16 * 1024), request: Vec::new() })
    }

    /// The `host:port` of a base URL `http://host:port[/]`.
    pub fn host_of(base: &str) -> io::Result<String> {
        base.strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/').to_string())
            .filter(|host| !host.is_empty() && !host.contains('/'))
            .ok_or_else(|| invalid(format!("{base:?} is not an http://host:port URL")))
    }

    pub async fn get(&mut self, path: &str) -> io::Result<Response> {
        self.request.clear();
        self.request.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host).as_bytes());
        self.exchange().await
    }

    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> io::Result<Response> {
        self.request.clear();
        self.request.extend_from_slice(
            format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                self.host,
                body.len()
            )
            .as_bytes(),
        );
        self.request.extend_from_slice(body);
        self.exchange().await
    }

    async fn fill(&mut self) -> io::Result<()> {
        let start = self.buffer.len();
        self.buffer.resize(start + 64 * 1024, 0);
        let read = self.stream.read(&mut self.buffer[start..]).await;
        match read {
            Ok(0) => {
                self.buffer.truncate(start);
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"))
            }
            Ok(read) => {
                self.buffer.truncate(start + read);
                Ok(())
            }
            Err(error) => {
                self.buffer.truncate(start);
                Err(error)
            }
        }
    }

    async fn exchange(&mut self) -> io::Result<Response> {
        self.stream.write_all(&self.request).await?;
        // The head.
        let (status, head_length, body_length) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buffer).map_err(|error| invalid(format!("a malformed response: {error}")))? {
                httparse::Status::Complete(head_length) => {
                    let status = response.code.ok_or_else(|| invalid("a response without a status"))?;
                    let mut length = None;
                    for header in response.headers.iter() {
                        if header.name.eq_ignore_ascii_case("content-length") {
                            length = std::str::from_utf8(header.value).ok().and_then(|v| v.trim().parse().ok());
                        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                            return Err(invalid("chunked responses are not expected from the server"));
                        }
                    }
                    let length: usize = length.ok_or_else(|| invalid("a response without Content-Length"))?;
                    break (status, head_length, length);
                }
                httparse::Status::Partial => self.fill().await?,
            }
        };
        while self.buffer.len() < head_length + body_length {
            self.fill().await?;
        }
        let body = self.buffer[head_length..head_length + body_length].to_vec();
        self.buffer.drain(..head_length + body_length);
        Ok(Response { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::Connection;

    #[test]
    fn hosts_come_from_base_urls() {
        assert_eq!(Connection::host_of("http://127.0.0.1:8080").unwrap(), "127.0.0.1:8080");
        assert_eq!(Connection::host_of("http://127.0.0.1:8080/").unwrap(), "127.0.0.1:8080");
        assert!(Connection::host_of("https://example.org").is_err());
        assert!(Connection::host_of("http://a/b").is_err());
    }
}
