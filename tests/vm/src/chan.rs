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

/// Standard base64 with padding, no line breaks (the `base64` crate).
pub(crate) fn b64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes base64 as the guest's `base64` prints it (lines of 76 characters);
/// `None` on anything else.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let joined: String = text.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .ok()
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
