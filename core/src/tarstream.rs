//! Incremental, validating tar reader over a decompressed stream (sans-IO).
//!
//! Feed it the tar bytes in chunks of any size; it reports each member's header, its content
//! in slices, and the end of each member. Unsafe or malformed members are refused with an
//! error before any of their bytes are reported: absolute paths, `..`, symbolic links, device
//! files, duplicate paths, and hard links that do not name an earlier regular member.

use crate::error::{Error, Result};
use crate::ustar::{self, Block, MemberHeader, MemberKind, PaxOverrides, BLOCK};
use std::collections::HashSet;

/// Most members one archive may hold (bounds the path set kept for duplicate checks).
pub const MAX_MEMBERS: usize = 10_000_000;

/// What the reader found.
#[derive(Debug)]
pub enum TarEvent<'a> {
    /// A member starts; `offset` is where its first header block is in the tar stream.
    Member { header: MemberHeader, offset: u64 },
    /// Content bytes of the current member.
    Data(&'a [u8]),
    /// The current member is complete.
    MemberEnd,
    /// The end-of-archive marker (two zero blocks) was read.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    SecondZero,
    Pax { remaining: u64, pad: usize },
    Data { remaining: u64, pad: usize },
    Padding { remaining: usize },
    Done,
}

/// The reader. See the module docs.
#[derive(Debug)]
pub struct TarReader {
    state: State,
    buf: Vec<u8>,
    pax: Option<PaxOverrides>,
    offset: u64,
    member_start: Option<u64>,
    paths: HashSet<String>,
    files: HashSet<String>,
    current: Option<String>,
}

impl Default for TarReader {
    fn default() -> Self {
        Self::new()
    }
}

impl TarReader {
    pub fn new() -> Self {
        TarReader {
            state: State::Header,
            buf: Vec::with_capacity(BLOCK),
            pax: None,
            offset: 0,
            member_start: None,
            paths: HashSet::new(),
            files: HashSet::new(),
            current: None,
        }
    }

    /// Bytes of the tar stream consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True once the end-of-archive marker was read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Feed `input`, calling `on_event` for everything found in it.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        mut on_event: impl FnMut(TarEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        loop {
            let (n, ev) = self.step(input)?;
            input = &input[n..];
            match ev {
                Some(ev) => on_event(ev)?,
                None if input.is_empty() => return Ok(()),
                None => {}
            }
        }
    }

    /// Consume a prefix of `input`; returns how much was consumed and at most one event.
    pub fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<TarEvent<'a>>)> {
        match self.state {
            State::Header | State::SecondZero => {
                if self.buf.is_empty() && self.state == State::Header && self.member_start.is_none()
                {
                    self.member_start = Some(self.offset);
                }
                let take = (BLOCK - self.buf.len()).min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                self.offset += take as u64;
                if self.buf.len() < BLOCK {
                    return Ok((take, None));
                }
                let block = std::mem::take(&mut self.buf);
                self.buf.reserve(BLOCK);
                let parsed = ustar::parse_block(&block, self.pax.as_ref());
                if self.state == State::SecondZero {
                    return match parsed? {
                        Block::Zero => {
                            self.state = State::Done;
                            Ok((take, Some(TarEvent::End)))
                        }
                        _ => Err(Error::corrupted("a lone zero block inside the tar stream")),
                    };
                }
                match parsed? {
                    Block::Zero => {
                        if self.pax.is_some() {
                            return Err(Error::corrupted("pax header not followed by a member"));
                        }
                        self.member_start = None;
                        self.state = State::SecondZero;
                        Ok((take, None))
                    }
                    Block::Pax { len } => {
                        if self.pax.is_some() {
                            return Err(Error::corrupted("two pax headers in a row"));
                        }
                        self.state = State::Pax {
                            remaining: len,
                            pad: ustar::padding(len),
                        };
                        Ok((take, None))
                    }
                    Block::Member(h) => {
                        self.pax = None;
                        self.admit(&h)?;
                        let offset = self
                            .member_start
                            .take()
                            .unwrap_or(self.offset - BLOCK as u64);
                        self.current = Some(h.path.clone());
                        self.state = if h.size > 0 {
                            State::Data {
                                remaining: h.size,
                                pad: ustar::padding(h.size),
                            }
                        } else {
                            State::Padding { remaining: 0 }
                        };
                        Ok((take, Some(TarEvent::Member { header: h, offset })))
                    }
                }
            }
            State::Pax { remaining, pad } => {
                let want = remaining as usize + pad; // bounded by MAX_PAX + 511
                let take = (want - self.buf.len()).min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                self.offset += take as u64;
                if self.buf.len() == want {
                    self.pax = Some(ustar::parse_pax(&self.buf[..remaining as usize])?);
                    self.buf.clear();
                    self.state = State::Header;
                }
                Ok((take, None))
            }
            State::Data { remaining, pad } => {
                if input.is_empty() {
                    return Ok((0, None));
                }
                let take = remaining.min(input.len() as u64) as usize;
                self.offset += take as u64;
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::Padding { remaining: pad }
                } else {
                    State::Data {
                        remaining: left,
                        pad,
                    }
                };
                Ok((take, Some(TarEvent::Data(&input[..take]))))
            }
            State::Padding { remaining } => {
                let take = remaining.min(input.len());
                self.offset += take as u64;
                let left = remaining - take;
                if left == 0 {
                    self.state = State::Header;
                    self.current = None;
                    return Ok((take, Some(TarEvent::MemberEnd)));
                }
                self.state = State::Padding { remaining: left };
                Ok((take, None))
            }
            State::Done => {
                // Only zero padding may follow the end-of-archive marker.
                if input.iter().any(|&b| b != 0) {
                    return Err(Error::corrupted("data after the tar end-of-archive marker"));
                }
                self.offset += input.len() as u64;
                Ok((input.len(), None))
            }
        }
    }

    fn admit(&mut self, h: &MemberHeader) -> Result<()> {
        if self.paths.len() >= MAX_MEMBERS {
            return Err(Error::limit(
                "the number of members",
                self.paths.len() as u64 + 1,
                MAX_MEMBERS as u64,
            ));
        }
        if !self.paths.insert(h.path.clone()) {
            return Err(Error::unsafe_member(&h.path, "duplicate member path"));
        }
        match &h.kind {
            MemberKind::File => {
                self.files.insert(h.path.clone());
            }
            MemberKind::Link { target } => {
                if !self.files.contains(target) {
                    return Err(Error::unsafe_member(
                        &h.path,
                        format!("hard link to {target:?}, which is not an earlier regular member"),
                    ));
                }
            }
            MemberKind::Dir => {}
        }
        Ok(())
    }

    /// Forget the member in progress and continue as if a new header started at tar offset
    /// `offset` (used by verify to resume at the next member after a damaged frame).
    pub fn resync(&mut self, offset: u64) {
        self.state = State::Header;
        self.buf.clear();
        self.pax = None;
        self.member_start = None;
        self.current = None;
        self.offset = offset;
    }

    /// Call when the stream has ended: an error unless the end-of-archive marker was read.
    pub fn finish(&self) -> Result<()> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(Error::corrupted(match &self.current {
                Some(p) => format!("tar stream ends inside member {p:?}"),
                None => "tar stream ends without its end-of-archive marker".to_string(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ustar::encode_header;

    fn member(path: &str, kind: MemberKind, data: &[u8]) -> Vec<u8> {
        let h = MemberHeader {
            path: path.into(),
            kind,
            size: data.len() as u64,
            mode: 0o644,
            mtime: 1,
        };
        let mut v = encode_header(&h).unwrap();
        v.extend_from_slice(data);
        v.resize(v.len() + ustar::padding(data.len() as u64), 0);
        v
    }

    fn collect(stream: &[u8], chunk: usize) -> Result<Vec<(String, u64, Vec<u8>)>> {
        let mut r = TarReader::new();
        let mut out: Vec<(String, u64, Vec<u8>)> = Vec::new();
        for c in stream.chunks(chunk.max(1)) {
            r.feed(c, |ev| {
                match ev {
                    TarEvent::Member { header, offset } => {
                        out.push((header.path, offset, Vec::new()))
                    }
                    TarEvent::Data(d) => out.last_mut().unwrap().2.extend_from_slice(d),
                    TarEvent::MemberEnd | TarEvent::End => {}
                }
                Ok(())
            })?;
        }
        r.finish()?;
        Ok(out)
    }

    #[test]
    fn members_in_any_chunking() {
        let long = format!("{}/x", "p".repeat(120));
        let mut s = member("a.txt", MemberKind::File, b"hello");
        let off_b = s.len() as u64;
        s.extend(member(&long, MemberKind::File, &vec![7u8; 1000]));
        s.extend(member(
            "c",
            MemberKind::Link {
                target: "a.txt".into(),
            },
            b"",
        ));
        s.extend([0u8; 1024]);
        for chunk in [1, 7, 511, 512, 513, 4096, 1 << 20] {
            let got = collect(&s, chunk).unwrap();
            assert_eq!(got.len(), 3);
            assert_eq!(got[0], ("a.txt".into(), 0, b"hello".to_vec()));
            assert_eq!(got[1].0, long);
            assert_eq!(got[1].1, off_b);
            assert_eq!(got[1].2, vec![7u8; 1000]);
            assert_eq!(got[2].0, "c");
        }
    }

    #[test]
    fn hostile_streams_are_refused() {
        let end = [0u8; 1024];
        let cases: Vec<Vec<u8>> = vec![
            [
                member("a", MemberKind::File, b"1"),
                member("a", MemberKind::File, b"2"),
                end.to_vec(),
            ]
            .concat(),
            [
                member(
                    "l",
                    MemberKind::Link {
                        target: "nope".into(),
                    },
                    b"",
                ),
                end.to_vec(),
            ]
            .concat(),
            [member("a", MemberKind::File, b"1")].concat(),
            member("a", MemberKind::File, b"123")[..600].to_vec(),
            [
                member("a", MemberKind::File, b"1"),
                vec![0u8; 512],
                member("b", MemberKind::File, b"1"),
            ]
            .concat(),
            [member("a", MemberKind::File, b"1"), end.to_vec(), vec![1u8]].concat(),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(collect(c, 100).is_err(), "case {i} accepted");
        }
    }
}
