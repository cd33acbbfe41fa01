//! Response bodies: static or shared bytes, or a short body kept inline.
//!
//! `Full<Bytes>` puts every formatted body on the heap (a `String`, often
//! grown once, plus the `Bytes` that shares it). musl's malloc makes each
//! allocation and free cost several hundred instructions, so the short
//! bodies formatted per request (the `/api/time` JSON) live inline instead.

use std::fmt::{self, Write as _};

use http_body_util::Full;
use hyper::body::{Buf, Bytes};

/// The body type of every response.
pub type Body = Full<Chunk>;

/// The bytes of one body.
#[derive(Debug)]
pub enum Chunk {
    /// Static text, or a large body formatted on the heap (the page, `/metrics`).
    Shared(Bytes),
    /// A short body formatted in place.
    Inline(Inline),
}

impl Chunk {
    /// `value` formatted: inline if it fits, otherwise on the heap.
    pub fn display(value: impl fmt::Display) -> Self {
        let mut inline = Inline::default();
        if write!(inline, "{value}").is_ok() {
            Chunk::Inline(inline)
        } else {
            Chunk::Shared(value.to_string().into())
        }
    }
}

impl From<&'static str> for Chunk {
    fn from(text: &'static str) -> Self {
        Chunk::Shared(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for Chunk {
    fn from(text: String) -> Self {
        Chunk::Shared(text.into())
    }
}

impl Buf for Chunk {
    fn remaining(&self) -> usize {
        match self {
            Chunk::Shared(bytes) => bytes.remaining(),
            Chunk::Inline(inline) => inline.as_bytes().len(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            Chunk::Shared(bytes) => bytes.chunk(),
            Chunk::Inline(inline) => inline.as_bytes(),
        }
    }

    fn advance(&mut self, n: usize) {
        match self {
            Chunk::Shared(bytes) => bytes.advance(n),
            Chunk::Inline(inline) => {
                assert!(n <= inline.as_bytes().len(), "advance past the end");
                inline.start += n;
            }
        }
    }
}

/// Up to [`Inline::CAPACITY`] bytes, filled by `write!`.
#[derive(Debug, Clone)]
pub struct Inline {
    bytes: [u8; Inline::CAPACITY],
    /// Sent so far (`Buf::advance`).
    start: usize,
    /// Written so far.
    end: usize,
}

impl Inline {
    /// Room for the `/api/time` JSON, at most 130 bytes for any instant.
    pub const CAPACITY: usize = 160;

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }
}

impl Default for Inline {
    fn default() -> Self {
        Self {
            bytes: [0; Self::CAPACITY],
            start: 0,
            end: 0,
        }
    }
}

impl fmt::Write for Inline {
    /// Fails, writing nothing, when `text` does not fit.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.end + text.len();
        self.bytes
            .get_mut(self.end..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text.as_bytes());
        self.end = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_stays_inline_and_long_text_goes_to_the_heap() {
        let short = Chunk::display("x".repeat(Inline::CAPACITY));
        assert!(matches!(short, Chunk::Inline(_)));
        assert_eq!(short.chunk(), "x".repeat(Inline::CAPACITY).as_bytes());
        let long = Chunk::display("y".repeat(Inline::CAPACITY + 1));
        assert!(matches!(long, Chunk::Shared(_)));
        assert_eq!(long.remaining(), Inline::CAPACITY + 1);
    }

    #[test]
    fn advance_consumes_inline_bytes() {
        let mut chunk = Chunk::display(format_args!("{}-{}", 12, "ab"));
        assert_eq!(chunk.remaining(), 5);
        chunk.advance(3);
        assert_eq!(chunk.chunk(), b"ab");
        chunk.advance(2);
        assert_eq!(chunk.remaining(), 0);
        assert!(!chunk.has_remaining());
    }
}
