//! GGUF reader (versions 2 and 3).
//!
//! The header (metadata and tensor infos) is parsed from a byte slice with a
//! cursor that checks every count, length and offset against the bytes that
//! are actually there before allocating anything, so no input can make it
//! panic or allocate absurd amounts. Tensor data is not copied: a `Gguf`
//! keeps the whole file and hands out slices of it.
//!
//! Layout (all little-endian):
//! magic "GGUF" | version u32 | n_tensors u64 | n_kv u64
//! n_kv × (key: string, type: u32, value)
//! n_tensors × (name: string, n_dims: u32, dims: u64 × n_dims, type: u32, offset: u64)
//! padding to `general.alignment` (default 32) | tensor data

use std::collections::BTreeMap;
use std::fmt;

use crate::quant::GgmlType;

/// Everything that can be wrong with a GGUF file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GgufError {
    #[error("not a GGUF file (magic bytes are {0:02x?}, expected \"GGUF\")")]
    BadMagic([u8; 4]),
    #[error("unsupported GGUF version {0} (Glassbox reads versions 2 and 3)")]
    UnsupportedVersion(u32),
    #[error("file truncated: needed {needed} bytes at offset {offset} for {what}, but the file has {len} bytes")]
    Truncated { what: &'static str, offset: usize, needed: u64, len: usize },
    #[error("{what} count {count} at offset {offset} is impossible for a file of {len} bytes")]
    AbsurdCount { what: &'static str, count: u64, offset: usize, len: usize },
    #[error("unknown metadata value type {0} at offset {1}")]
    UnknownValueType(u32, usize),
    #[error("metadata nests arrays deeper than {0} levels")]
    TooDeep(usize),
    #[error("string at offset {0} is not valid UTF-8")]
    BadUtf8(usize),
    #[error("tensor '{name}' has unknown ggml type {ty}")]
    UnknownTensorType { name: String, ty: u32 },
    #[error("tensor '{name}' has {n_dims} dimensions (at most 4 are allowed)")]
    TooManyDims { name: String, n_dims: u32 },
    #[error("tensor '{name}' has an invalid shape {dims:?}")]
    BadShape { name: String, dims: Vec<u64> },
    #[error("tensor '{name}' ({ty}) has {n_elements} elements, not a whole number of {block}-element blocks")]
    PartialBlock { name: String, ty: GgmlType, n_elements: u64, block: usize },
    #[error("tensor '{name}' spans bytes {start}..{end} of the data section, which has only {len} bytes")]
    TensorOutOfBounds { name: String, start: u64, end: u64, len: u64 },
    #[error("tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned { name: String, offset: u64, alignment: u64 },
    #[error("tensor name '{0}' appears twice")]
    DuplicateTensor(String),
    #[error("metadata key '{0}' appears twice")]
    DuplicateKey(String),
    #[error("general.alignment must be a non-zero power of two, got {0}")]
    BadAlignment(u64),
    #[error("metadata key '{key}': {problem}")]
    Metadata { key: String, problem: String },
    #[error("tensor '{0}' is missing")]
    MissingTensor(String),
}

type Result<T> = std::result::Result<T, GgufError>;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    /// An array of strings or of arrays.
    Array(Vec<Value>),
    /// An array of numbers or booleans, packed as the file holds them (as
    /// `Value`s each byte of a u8 array would take 32).
    Numbers(Numbers),
}

/// A GGUF array of numbers or booleans, one vector of its item type.
#[derive(Debug, Clone, PartialEq)]
pub enum Numbers {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
}

impl Numbers {
    pub fn len(&self) -> usize {
        match self {
            Numbers::U8(v) => v.len(),
            Numbers::I8(v) => v.len(),
            Numbers::U16(v) => v.len(),
            Numbers::I16(v) => v.len(),
            Numbers::U32(v) => v.len(),
            Numbers::I32(v) => v.len(),
            Numbers::U64(v) => v.len(),
            Numbers::I64(v) => v.len(),
            Numbers::F32(v) => v.len(),
            Numbers::F64(v) => v.len(),
            Numbers::Bool(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Item `i` as a value.
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Numbers::U8(v) => Value::U8(*v.get(i)?),
            Numbers::I8(v) => Value::I8(*v.get(i)?),
            Numbers::U16(v) => Value::U16(*v.get(i)?),
            Numbers::I16(v) => Value::I16(*v.get(i)?),
            Numbers::U32(v) => Value::U32(*v.get(i)?),
            Numbers::I32(v) => Value::I32(*v.get(i)?),
            Numbers::U64(v) => Value::U64(*v.get(i)?),
            Numbers::I64(v) => Value::I64(*v.get(i)?),
            Numbers::F32(v) => Value::F32(*v.get(i)?),
            Numbers::F64(v) => Value::F64(*v.get(i)?),
            Numbers::Bool(v) => Value::Bool(*v.get(i)?),
        })
    }
    /// Every item as a value, in order.
    pub fn values(&self) -> impl Iterator<Item = Value> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
    /// The first `n` items.
    pub fn prefix(&self, n: usize) -> Numbers {
        fn cut<T: Clone>(v: &[T], n: usize) -> Vec<T> {
            v[..n.min(v.len())].to_vec()
        }
        match self {
            Numbers::U8(v) => Numbers::U8(cut(v, n)),
            Numbers::I8(v) => Numbers::I8(cut(v, n)),
            Numbers::U16(v) => Numbers::U16(cut(v, n)),
            Numbers::I16(v) => Numbers::I16(cut(v, n)),
            Numbers::U32(v) => Numbers::U32(cut(v, n)),
            Numbers::I32(v) => Numbers::I32(cut(v, n)),
            Numbers::U64(v) => Numbers::U64(cut(v, n)),
            Numbers::I64(v) => Numbers::I64(cut(v, n)),
            Numbers::F32(v) => Numbers::F32(cut(v, n)),
            Numbers::F64(v) => Numbers::F64(cut(v, n)),
            Numbers::Bool(v) => Numbers::Bool(cut(v, n)),
        }
    }
    /// The GGUF type id of the items.
    pub fn item_type(&self) -> u32 {
        match self {
            Numbers::U8(_) => 0,
            Numbers::I8(_) => 1,
            Numbers::U16(_) => 2,
            Numbers::I16(_) => 3,
            Numbers::U32(_) => 4,
            Numbers::I32(_) => 5,
            Numbers::F32(_) => 6,
            Numbers::Bool(_) => 7,
            Numbers::U64(_) => 10,
            Numbers::I64(_) => 11,
            Numbers::F64(_) => 12,
        }
    }
}

impl Value {
    /// Any integer type that fits in u64 (negative values do not).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) if s.len() > 60 => write!(f, "{:?}…", &s[..s.floor_char_boundary(60)]),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Array(a) => write!(f, "[{} values]", a.len()),
            Value::Numbers(a) => write!(f, "[{} values]", a.len()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            other => write!(f, "{}", other.as_u64().map(|v| v.to_string()).unwrap_or_else(|| format!("{other:?}"))),
        }
    }
}

/// Where one tensor lives and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous (row) length.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset relative to the start of the data section.
    pub offset: u64,
    /// Byte length of the tensor's data.
    pub size: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF header: metadata, tensor infos and where the data starts.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the data section.
    pub data_offset: u64,
}

/// A whole GGUF file in memory.
pub struct Gguf {
    pub header: GgufHeader,
    bytes: Vec<u8>,
}

impl fmt::Debug for Gguf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gguf")
            .field("version", &self.header.version)
            .field("tensors", &self.header.tensors.len())
            .field("metadata", &self.header.metadata.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

const MAX_DEPTH: usize = 4;

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(GgufError::Truncated { what, offset: self.pos, needed: n, len: self.bytes.len() });
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        Ok(self.take(N as u64, what)?.try_into().expect("take returned N bytes"))
    }
    fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    /// A count of items that each take at least `min_item_bytes`: reject counts
    /// that cannot fit in the rest of the file before anyone allocates for them.
    fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<usize> {
        let at = self.pos;
        let n = self.u64(what)?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n.checked_mul(min_item_bytes).is_none_or(|b| b > left) {
            return Err(GgufError::AbsurdCount { what, count: n, offset: at, len: self.bytes.len() });
        }
        Ok(n as usize)
    }
    fn string(&mut self, what: &'static str) -> Result<String> {
        let len = self.u64(what)?;
        let at = self.pos;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| GgufError::BadUtf8(at))
    }
    fn value(&mut self, ty: u32, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.u8("u8 value")?),
            1 => Value::I8(self.u8("i8 value")? as i8),
            2 => Value::U16(self.u16("u16 value")?),
            3 => Value::I16(self.u16("i16 value")? as i16),
            4 => Value::U32(self.u32("u32 value")?),
            5 => Value::I32(self.u32("i32 value")? as i32),
            6 => Value::F32(f32::from_bits(self.u32("f32 value")?)),
            7 => Value::Bool(self.u8("bool value")? != 0),
            8 => Value::String(self.string("string value")?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(GgufError::TooDeep(MAX_DEPTH));
                }
                let at = self.pos;
                let item_ty = self.u32("array item type")?;
                let item_bytes = min_value_bytes(item_ty).ok_or(GgufError::UnknownValueType(item_ty, at))?;
                let n = self.count("array length", item_bytes)?;
                if let Some(numbers) = self.numbers(item_ty, n)? {
                    return Ok(Value::Numbers(numbers));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item_ty, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64("u64 value")?),
            11 => Value::I64(self.u64("i64 value")? as i64),
            12 => Value::F64(f64::from_bits(self.u64("f64 value")?)),
            other => return Err(GgufError::UnknownValueType(other, self.pos - 4)),
        })
    }
}

/// The fewest bytes one value of a metadata type can take (None: unknown type).
impl Cursor<'_> {
    /// `n` packed items of a number or boolean type (None: another type).
    fn numbers(&mut self, ty: u32, n: usize) -> Result<Option<Numbers>> {
        fn read<T, const N: usize>(c: &mut Cursor<'_>, n: usize, f: fn([u8; N]) -> T) -> Result<Vec<T>> {
            // (`count` checked that n items fit in the bytes left.)
            let raw = c.take((n * N) as u64, "array items")?;
            Ok(raw.chunks_exact(N).map(|b| f(b.try_into().expect("N bytes"))).collect())
        }
        Ok(Some(match ty {
            0 => Numbers::U8(self.take(n as u64, "array items")?.to_vec()),
            1 => Numbers::I8(read(self, n, |b: [u8; 1]| b[0] as i8)?),
            2 => Numbers::U16(read(self, n, u16::from_le_bytes)?),
            3 => Numbers::I16(read(self, n, i16::from_le_bytes)?),
            4 => Numbers::U32(read(self, n, u32::from_le_bytes)?),
            5 => Numbers::I32(read(self, n, i32::from_le_bytes)?),
            6 => Numbers::F32(read(self, n, f32::from_le_bytes)?),
            7 => Numbers::Bool(read(self, n, |b: [u8; 1]| b[0] != 0)?),
            10 => Numbers::U64(read(self, n, u64::from_le_bytes)?),
            11 => Numbers::I64(read(self, n, i64::from_le_bytes)?),
            12 => Numbers::F64(read(self, n, f64::from_le_bytes)?),
            _ => return Ok(None),
        }))
    }
}

fn min_value_bytes(ty: u32) -> Option<u64> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10 | 11 | 12 => 8,
        9 => 12,
        _ => return None,
    })
}

impl GgufHeader {
    /// Parse the header from the start of `bytes` (which must hold the whole
    /// file, so that tensor extents can be checked).
    pub fn parse(bytes: &[u8]) -> Result<GgufHeader> {
        Self::parse_prefix(bytes, bytes.len() as u64)
    }

    /// Parse the header from the first bytes of a file of `file_len` bytes
    /// (tensor extents are checked against `file_len`): a header can be read
    /// and checked before the weights. Never panics, and allocates in
    /// proportion to `bytes`, whatever the counts in them say.
    pub fn parse_prefix(bytes: &[u8], file_len: u64) -> Result<GgufHeader> {
        let mut c = Cursor { bytes, pos: 0 };
        let magic = c.array::<4>("magic")?;
        if &magic != b"GGUF" {
            return Err(GgufError::BadMagic(magic));
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        // Smallest tensor info: 8-byte name length + 4 n_dims + 4 type + 8 offset.
        let n_tensors = c.count("tensor", 24)?;
        // Smallest key/value: 8-byte key length + 4 type + 1 byte value.
        let n_kv = c.count("metadata key/value", 13)?;

        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let ty = c.u32("metadata value type")?;
            let value = c.value(ty, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(GgufError::DuplicateKey(key));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => {
                let a = v.as_u64().ok_or_else(|| GgufError::Metadata {
                    key: "general.alignment".into(),
                    problem: format!("expected an integer, got {v}"),
                })?;
                if a == 0 || !a.is_power_of_two() {
                    return Err(GgufError::BadAlignment(a));
                }
                a
            }
        };

        let mut raw = Vec::with_capacity(n_tensors);
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let n_dims = c.u32("tensor dimension count")?;
            if n_dims > 4 {
                return Err(GgufError::TooManyDims { name, n_dims });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64("tensor dimension")?);
            }
            let ty_raw = c.u32("tensor type")?;
            let offset = c.u64("tensor offset")?;
            let ty = GgmlType::from_u32(ty_raw).ok_or_else(|| GgufError::UnknownTensorType { name: name.clone(), ty: ty_raw })?;
            if !names.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor(name));
            }
            raw.push((name, dims, ty, offset));
        }

        let data_offset = (c.pos as u64).div_ceil(alignment) * alignment;
        let data_len = file_len.saturating_sub(data_offset);
        let mut tensors = Vec::with_capacity(raw.len());
        for (name, dims, ty, offset) in raw {
            let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
            let n_elements = match n_elements {
                Some(n) if n > 0 && !dims.is_empty() && dims.iter().all(|&d| d > 0) => n,
                _ => return Err(GgufError::BadShape { name, dims }),
            };
            let block = ty.block_len() as u64;
            // Rows are made of whole blocks in ggml, so dims[0] must be a multiple too.
            if dims[0] % block != 0 {
                return Err(GgufError::PartialBlock { name, ty, n_elements, block: block as usize });
            }
            let size = (n_elements / block)
                .checked_mul(ty.block_bytes() as u64)
                .ok_or_else(|| GgufError::BadShape { name: name.clone(), dims: dims.clone() })?;
            if offset % alignment != 0 {
                return Err(GgufError::Misaligned { name, offset, alignment });
            }
            let end = offset.saturating_add(size);
            if end > data_len {
                return Err(GgufError::TensorOutOfBounds { name, start: offset, end, len: data_len });
            }
            tensors.push(TensorInfo { name, dims, ty, offset, size });
        }
        Ok(GgufHeader { version, metadata, tensors, alignment, data_offset })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    fn missing(key: &str) -> GgufError {
        GgufError::Metadata { key: key.into(), problem: "missing".into() }
    }

    pub fn get_u64(&self, key: &str) -> Result<u64> {
        let v = self.get(key).ok_or_else(|| Self::missing(key))?;
        v.as_u64().ok_or_else(|| GgufError::Metadata { key: key.into(), problem: format!("expected an unsigned integer, got {v}") })
    }
    /// A size or an id: an unsigned integer that fits 32 bits, read the
    /// same on every target (a 64-bit value is never cut to wasm32's usize).
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        let v = self.get_u64(key)?;
        u32::try_from(v).map_err(|_| GgufError::Metadata { key: key.into(), problem: format!("{v} is larger than Glassbox reads ({})", u32::MAX) })
    }
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        let v = self.get(key).ok_or_else(|| Self::missing(key))?;
        v.as_f64().ok_or_else(|| GgufError::Metadata { key: key.into(), problem: format!("expected a number, got {v}") })
    }
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        let v = self.get(key).ok_or_else(|| Self::missing(key))?;
        v.as_bool().ok_or_else(|| GgufError::Metadata { key: key.into(), problem: format!("expected a boolean, got {v}") })
    }
    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.get(key).ok_or_else(|| Self::missing(key))?;
        v.as_str().ok_or_else(|| GgufError::Metadata { key: key.into(), problem: format!("expected a string, got {v}") })
    }
    pub fn get_array(&self, key: &str) -> Result<&[Value]> {
        let v = self.get(key).ok_or_else(|| Self::missing(key))?;
        v.as_array().ok_or_else(|| GgufError::Metadata { key: key.into(), problem: format!("expected an array, got {v}") })
    }
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name).ok_or_else(|| GgufError::MissingTensor(name.into()))
    }
}

impl Gguf {
    /// Parse a whole file held in memory. Never panics, whatever the bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Gguf> {
        let header = GgufHeader::parse(&bytes)?;
        Ok(Gguf { header, bytes })
    }

    /// The raw bytes of a tensor (its GGUF blocks, untouched).
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        // Bounds were checked in `parse`.
        let start = (self.header.data_offset + info.offset) as usize;
        &self.bytes[start..start + info.size as usize]
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}
