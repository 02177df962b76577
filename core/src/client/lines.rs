// SPDX-License-Identifier: Apache-2.0
//! Framing of the sync stream's body: ndjson lines or length-prefixed BSON documents.

use crate::{Error, Result};

/// Content type of BSON sync lines.
pub(crate) const BSON_CONTENT_TYPE: &str = "application/vnd.powersync.bson-stream";
/// Content type of ndjson sync lines.
pub(crate) const NDJSON_CONTENT_TYPE: &str = "application/x-ndjson";

/// One decoded frame of the sync stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// Splits the response body into lines: `\n`-separated text, or BSON documents whose first
/// four bytes are their total length (little endian).
#[derive(Debug, Default)]
pub(crate) struct LineDecoder {
    bson: bool,
    buffer: Vec<u8>,
}

/// Upper bound for one line; a larger length prefix means a corrupt stream.
const MAX_LINE_BYTES: usize = 256 * 1024 * 1024;

impl LineDecoder {
    pub(crate) fn new(bson: bool) -> Self {
        Self {
            bson,
            buffer: Vec::new(),
        }
    }

    /// Adds received bytes and returns every complete frame.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Frame>> {
        self.buffer.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut start = 0;
        if self.bson {
            while self.buffer.len() - start >= 4 {
                let mut len_bytes = [0u8; 4];
                len_bytes.copy_from_slice(&self.buffer[start..start + 4]);
                let len = u32::from_le_bytes(len_bytes) as usize;
                if !(5..=MAX_LINE_BYTES).contains(&len) {
                    return Err(Error::protocol("invalid BSON frame length in sync stream"));
                }
                if self.buffer.len() - start < len {
                    break;
                }
                frames.push(Frame::Binary(self.buffer[start..start + len].to_vec()));
                start += len;
            }
        } else {
            while let Some(pos) = self.buffer[start..].iter().position(|b| *b == b'\n') {
                let line = &self.buffer[start..start + pos];
                let text = std::str::from_utf8(line)
                    .map_err(|_| Error::protocol("sync line is not valid UTF-8"))?
                    .trim();
                if !text.is_empty() {
                    frames.push(Frame::Text(text.to_owned()));
                }
                start += pos + 1;
            }
            if self.buffer.len() - start > MAX_LINE_BYTES {
                return Err(Error::protocol("sync line too long"));
            }
        }
        self.buffer.drain(..start);
        Ok(frames)
    }

    /// Bytes of an unfinished frame left at the end of the stream.
    pub(crate) fn has_partial(&self) -> bool {
        !self.buffer.iter().all(u8::is_ascii_whitespace) || (self.bson && !self.buffer.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_split_across_chunks() {
        let mut decoder = LineDecoder::new(false);
        assert!(decoder.push(b"{\"a\":1}\n{\"b\"").unwrap_or_default().len() == 1);
        let frames = decoder.push(b":2}\n\n").unwrap_or_default();
        assert_eq!(frames, vec![Frame::Text("{\"b\":2}".into())]);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn bson_frames_use_length_prefix() {
        let mut decoder = LineDecoder::new(true);
        let doc = [5u8, 0, 0, 0, 0];
        let mut bytes = doc.to_vec();
        bytes.extend_from_slice(&[5, 0]);
        let frames = decoder.push(&bytes).unwrap_or_default();
        assert_eq!(frames, vec![Frame::Binary(doc.to_vec())]);
        assert!(decoder.has_partial());
        let frames = decoder.push(&[0, 0, 0]).unwrap_or_default();
        assert_eq!(frames, vec![Frame::Binary(doc.to_vec())]);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn bson_rejects_impossible_length() {
        let mut decoder = LineDecoder::new(true);
        assert!(decoder.push(&[1, 0, 0, 0]).is_err());
    }
}
