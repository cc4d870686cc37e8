//! Bounds-checked byte and bit readers shared by the parsers.
//!
//! Every read checks the remaining length first and returns [`Error::InvalidData`] naming what
//! was being parsed, so hostile input cannot make a parser panic or read out of bounds.

use crate::{Error, Result};

/// A big-endian reader over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> ByteReader<'a> {
    /// A reader over `data`; `what` names the structure in error messages.
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        ByteReader { data, pos: 0, what }
    }

    /// Bytes left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Current position from the start of the slice.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn truncated(&self, need: usize) -> Error {
        Error::InvalidData(format!(
            "{} is truncated: needed {need} more bytes at offset {} of {}; the file is cut short or corrupt",
            self.what,
            self.pos,
            self.data.len()
        ))
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated(n))?;
        let out = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| self.truncated(n))?;
        self.pos = end;
        Ok(out)
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Big-endian u16.
    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Big-endian u32.
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Big-endian i32.
    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// Big-endian u64.
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Big-endian i64.
    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Little-endian u16.
    pub(crate) fn u16_le(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Little-endian u32.
    pub(crate) fn u32_le(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Little-endian u64.
    pub(crate) fn u64_le(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

/// Removes H.264/HEVC emulation prevention bytes (`00 00 03` → `00 00`), giving the RBSP.
pub fn remove_emulation_prevention(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        if b == 0 {
            zeros += 1;
        } else {
            zeros = 0;
        }
        out.push(b);
    }
    out
}

/// An MSB-first bit reader with exp-Golomb codes, over an RBSP (emulation prevention removed).
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    /// A reader starting at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, bit: 0 }
    }

    fn eof() -> Error {
        Error::InvalidData(
            "bitstream header ends early (truncated parameter set or slice header)".into(),
        )
    }

    /// Bits consumed so far.
    pub fn position(&self) -> usize {
        self.bit
    }

    /// Bits left.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_mul(8).saturating_sub(self.bit)
    }

    /// One bit.
    pub fn bit(&mut self) -> Result<bool> {
        let byte = self.data.get(self.bit / 8).ok_or_else(Self::eof)?;
        let v = (byte >> (7 - (self.bit % 8))) & 1;
        self.bit += 1;
        Ok(v == 1)
    }

    /// `n` bits (0..=32) as an unsigned value.
    pub fn bits(&mut self, n: u32) -> Result<u32> {
        if n > 32 {
            return Err(Error::InvalidData(format!(
                "cannot read {n} bits at once (at most 32)"
            )));
        }
        let mut v: u64 = 0;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        u32::try_from(v).map_err(|_| Self::eof())
    }

    /// Skips `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        if n > self.remaining() {
            return Err(Self::eof());
        }
        self.bit += n;
        Ok(())
    }

    /// Unsigned exp-Golomb `ue(v)`; values above `u32::MAX - 1` are rejected.
    pub fn ue(&mut self) -> Result<u32> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(Error::InvalidData(
                    "exp-Golomb code longer than 32 bits (corrupt parameter set)".into(),
                ));
            }
        }
        let rest = u64::from(self.bits(zeros)?);
        let v = (1u64 << zeros) - 1 + rest;
        u32::try_from(v).map_err(|_| {
            Error::InvalidData("exp-Golomb value out of range (corrupt parameter set)".into())
        })
    }

    /// Signed exp-Golomb `se(v)`.
    pub fn se(&mut self) -> Result<i32> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v)
            .map_err(|_| Error::InvalidData("signed exp-Golomb value out of range".into()))
    }

    /// `ue(v)` that must be at most `max`; `what` names the field in the error.
    pub fn ue_max(&mut self, max: u32, what: &str) -> Result<u32> {
        let v = self.ue()?;
        if v > max {
            return Err(Error::InvalidData(format!(
                "{what} = {v} is out of range (at most {max}); the parameter set is corrupt"
            )));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_values() {
        // 1 | 010 | 011 | 00100 | 00101 | 00111 => ue 0,1,2,3,4,6
        // bits: 1 010 011 00100 00101 00111 (+ padding)
        let bits = "1010011001000010100111";
        let mut bytes = vec![0u8; 3];
        for (i, c) in bits.chars().enumerate() {
            if c == '1' {
                bytes[i / 8] |= 0x80 >> (i % 8);
            }
        }
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.ue().unwrap(), 0);
        assert_eq!(r.ue().unwrap(), 1);
        assert_eq!(r.ue().unwrap(), 2);
        assert_eq!(r.ue().unwrap(), 3);
        assert_eq!(r.ue().unwrap(), 4);
        assert_eq!(r.ue().unwrap(), 6);
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.se().unwrap(), 0);
        assert_eq!(r.se().unwrap(), 1);
        assert_eq!(r.se().unwrap(), -1);
        assert_eq!(r.se().unwrap(), 2);
        assert_eq!(r.se().unwrap(), -2);
        assert_eq!(r.se().unwrap(), -3);
    }

    #[test]
    fn exp_golomb_rejects_overlong_and_eof() {
        assert!(BitReader::new(&[0, 0, 0, 0, 0]).ue().is_err());
        assert!(BitReader::new(&[]).bit().is_err());
        assert!(BitReader::new(&[0x01]).ue().is_err());
        // 31 zeros then 1 then 31 ones: the largest accepted code, u32::MAX - 1 + ... fits.
        let mut r = BitReader::new(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(r.ue().unwrap(), (1u32 << 31) - 1 + 0x7fff_ffff);
        assert!(r.bits(33).is_err());
    }

    #[test]
    fn emulation_prevention_removed() {
        assert_eq!(
            remove_emulation_prevention(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 3]
        );
        assert_eq!(remove_emulation_prevention(&[0, 3, 0]), vec![0, 3, 0]);
    }

    #[test]
    fn byte_reader_bounds() {
        let mut r = ByteReader::new(&[1, 2, 3], "test box");
        assert_eq!(r.u16().unwrap(), 0x0102);
        let e = r.u16().unwrap_err();
        assert!(e.to_string().contains("test box is truncated"), "{e}");
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.bytes(usize::MAX).is_err());
        assert_eq!(r.remaining(), 0);
    }
}
