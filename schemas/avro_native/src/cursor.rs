//! A cursor over one untrusted Avro datum (any Kafka message), shared by the reader (Python values) and the
//! Native block (columns), so the two check its bytes alike: every length is checked against the bytes left
//! before anything is taken or allocated.

/// Why a datum was refused; the reader raises it as a `ValueError`, the block names the message with it.
pub struct Malformed(pub &'static str);

pub type Read<T> = Result<T, Malformed>;

pub struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    /// The datum `data[at..]`: `at` is the length of a header before it.
    pub fn new(data: &'a [u8], at: usize) -> Self {
        Input { data, at: at.min(data.len()) }
    }

    pub fn left(&self) -> usize {
        self.data.len() - self.at
    }

    pub fn take(&mut self, n: usize) -> Read<&'a [u8]> {
        if n > self.left() {
            return Err(Malformed("datum ends early"));
        }
        let out = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    /// A zig-zag varint of at most 10 bytes whose value fits 64 bits.
    pub fn long(&mut self) -> Read<i64> {
        // most varints are one byte (lengths of short strings, union branches, small counts)
        if let Some(&byte) = self.data.get(self.at) {
            if byte < 0x80 {
                self.at += 1;
                return Ok(i64::from(byte >> 1) ^ -i64::from(byte & 1));
            }
        }
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = self.take(1)?[0];
            if i == 9 && byte > 1 {
                return Err(Malformed("varint longer than 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(Malformed("varint longer than 10 bytes"))
    }

    /// The length before a string, bytes or the like: not negative, and no longer than the bytes left.
    pub fn length(&mut self) -> Read<usize> {
        let n = self.long()?;
        if n < 0 {
            return Err(Malformed("negative length"));
        }
        if n as u64 > self.left() as u64 {
            return Err(Malformed("length beyond the datum"));
        }
        Ok(n as usize)
    }

    /// The item count of the next block of an array or a map (0 at the end), its byte size skipped.
    pub fn block(&mut self) -> Read<usize> {
        let count = self.long()?;
        if count < 0 {
            self.long()?;
        }
        let count = count.unsigned_abs();
        // every item takes at least a byte (the schema builder refuses arrays of items that take none)
        if count > self.left() as u64 {
            return Err(Malformed("block count larger than the bytes left"));
        }
        Ok(count as usize)
    }

    /// Runs `item` once per item of an array's or a map's blocks, to the end block.
    pub fn each_item<E: From<Malformed>>(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), E>)
        -> Result<(), E> {
        loop {
            let count = self.block()?;
            if count == 0 {
                return Ok(());
            }
            for _ in 0..count {
                item(self)?;
            }
        }
    }

    /// Whether the datum was read to its last byte.
    pub fn done(&self) -> bool {
        self.at == self.data.len()
    }
}
