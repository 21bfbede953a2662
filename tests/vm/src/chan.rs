//! Line-oriented reading from a Unix socket with deadlines, and base64 for the agent.

use crate::error::VmError;
use std::io::{BufRead, BufReader, ErrorKind};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Reads `\n`-terminated lines; a partial line survives a timeout.
#[derive(Debug)]
pub(crate) struct LineReader {
    reader: BufReader<UnixStream>,
    partial: Vec<u8>,
    what: &'static str,
}

impl LineReader {
    pub fn new(stream: UnixStream, what: &'static str) -> Self {
        LineReader {
            reader: BufReader::new(stream),
            partial: Vec::new(),
            what,
        }
    }

    /// The next line without its newline; `Ok(None)` when none completed within a short
    /// slice (at most 500 ms) or before `deadline`: callers loop, checking QEMU is alive.
    pub fn line(&mut self, deadline: Instant) -> Result<Option<String>, VmError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // short slices so callers can also notice QEMU dying
            let slice = left.min(Duration::from_millis(500));
            self.reader
                .get_ref()
                .set_read_timeout(Some(slice))
                .map_err(|e| VmError::io(format!("{}: set timeout", self.what), e))?;
            match self.reader.read_until(b'\n', &mut self.partial) {
                Ok(0) => {
                    return Err(VmError::Protocol(format!(
                        "{}: connection closed",
                        self.what
                    )))
                }
                Ok(_) if self.partial.last() == Some(&b'\n') => {
                    self.partial.pop();
                    let line = String::from_utf8_lossy(&self.partial).into_owned();
                    self.partial.clear();
                    return Ok(Some(line));
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(VmError::io(format!("{}: read", self.what), e)),
            }
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, no line breaks.
pub(crate) fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64, ignoring whitespace; `None` on a character outside the alphabet.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' | b' ' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..40 {
            let enc = b64_encode(&data[..n]);
            assert_eq!(enc.len() % 4, 0);
            assert_eq!(b64_decode(&enc).unwrap(), &data[..n], "length {n}");
        }
        assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64_encode(b"fo"), "Zm8=");
        assert_eq!(b64_decode("Zm9v\nYmE=\n").unwrap(), b"fooba");
        assert_eq!(b64_decode("Zm9v!"), None);
    }
}
