//! Bounded output capture: the first and the last half of the bound are kept.

/// One captured stream.
#[derive(Debug, Default)]
pub(crate) struct Bounded {
    limit: usize,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: usize,
}

impl Bounded {
    pub(crate) fn new(limit: usize) -> Self {
        Bounded {
            limit,
            ..Bounded::default()
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        let half = self.limit / 2;
        let mut rest = bytes;
        if self.head.len() < half {
            let take = (half - self.head.len()).min(rest.len());
            self.head.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        let keep = self.limit - half;
        self.tail.extend(rest.iter().copied());
        while self.tail.len() > keep {
            self.tail.pop_front();
        }
    }

    pub(crate) fn truncated(&self) -> bool {
        self.total > self.head.len() + self.tail.len()
    }

    pub(crate) fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if self.truncated() {
            let omitted = self.total - self.head.len() - self.tail.len();
            out.push_str(&format!("\n… [{omitted} bytes omitted] …\n"));
        }
        let (a, b) = self.tail.as_slices();
        let mut tail = Vec::with_capacity(a.len() + b.len());
        tail.extend_from_slice(a);
        tail.extend_from_slice(b);
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail() {
        let mut b = Bounded::new(10);
        b.push(b"0123456789");
        assert!(!b.truncated());
        assert_eq!(b.text(), "0123456789");
        b.push(b"abcdefghij");
        assert!(b.truncated());
        assert_eq!(b.text(), "01234\n… [10 bytes omitted] …\nfghij");
    }
}
