//! [`ShareableList`]: a fixed-length list of ints, floats, bools, strings, bytes and `None`s in a
//! named segment, laid out as Python's `multiprocessing.shared_memory.ShareableList` lays it
//! out, so that a Python program attaches to it by name and reads and writes the same list.
//!
//! # Layout (CPython's, since 3.9; native byte order)
//!
//! ```text
//! [n: i64][offsets: (n + 1) × i64][data][formats: n × 8 bytes][codes: n × i8]
//! ```
//!
//! Item `i`'s data starts `offsets[i]` bytes into the data area, which starts after the
//! offsets; it has `offsets[i + 1] - offsets[i]` bytes of room: 8 for a number, a bool or
//! `None`, a multiple of 8 for a string or bytes (one more 8 than its length needs). Its
//! format is a `struct` format padded with NULs: `q` (an `i64`), `d` (an `f64`), `xxxxxxx?`
//! (a bool in the eighth byte), `xxxxxx?x` (`None`), or `<N>s` (N bytes, NUL-padded). Its code
//! says how the value read back is turned into an item: 0 as it is, 1 a UTF-8 string and 2
//! bytes (both without their trailing NULs), 3 `None`.
//!
//! As in Python, there is no lock: a read that races with a write to the same item may see
//! the new format with the old value.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::shared_memory::{Keeper, SharedMemory, ShmError};

/// One item of a [`ShareableList`]: what Python's `ShareableList` can hold.
#[derive(Clone, Debug, PartialEq)]
pub enum ListItem {
    /// A signed 64-bit integer (Python's `int`, within that range).
    Int(i64),
    /// A float (Python's `float`).
    Float(f64),
    /// A bool.
    Bool(bool),
    /// A UTF-8 string (Python's `str`). Trailing NULs do not survive the trip, as in Python.
    Str(String),
    /// Bytes (Python's `bytes`). Trailing NULs do not survive the trip, as in Python.
    Bytes(Vec<u8>),
    /// Nothing (Python's `None`).
    None,
}

impl ListItem {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ListItem::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The float, if this is one.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            ListItem::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// The bool, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ListItem::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ListItem::Str(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes, if this is bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            ListItem::Bytes(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this is `None`.
    pub fn is_none(&self) -> bool {
        matches!(self, ListItem::None)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for ListItem {
            fn from(v: $t) -> Self {
                ListItem::Int(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for ListItem {
    fn from(v: f64) -> Self {
        ListItem::Float(v)
    }
}

impl From<f32> for ListItem {
    fn from(v: f32) -> Self {
        ListItem::Float(f64::from(v))
    }
}

impl From<bool> for ListItem {
    fn from(v: bool) -> Self {
        ListItem::Bool(v)
    }
}

impl From<&str> for ListItem {
    fn from(v: &str) -> Self {
        ListItem::Str(v.to_owned())
    }
}

impl From<String> for ListItem {
    fn from(v: String) -> Self {
        ListItem::Str(v)
    }
}

impl From<&[u8]> for ListItem {
    fn from(v: &[u8]) -> Self {
        ListItem::Bytes(v.to_vec())
    }
}

impl From<Vec<u8>> for ListItem {
    fn from(v: Vec<u8>) -> Self {
        ListItem::Bytes(v)
    }
}

impl<T: Into<ListItem>> From<Option<T>> for ListItem {
    fn from(v: Option<T>) -> Self {
        v.map_or(ListItem::None, Into::into)
    }
}

/// An item's `struct` format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Int,
    Float,
    Bool,
    None,
    /// `<N>s`: N bytes.
    Bytes(usize),
}

/// The longest `<N>s` that fits a format's 8 bytes.
const MAX_ROOM: usize = 9_999_999;
/// The longest string or bytes whose room (see [`ListItem::room`]) stays within [`MAX_ROOM`].
const MAX_ITEM: usize = (MAX_ROOM / 8 - 1) * 8 + 7;

impl Format {
    fn parse(raw: &[u8; 8]) -> Option<Format> {
        let end = raw.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        Some(match &raw[..end] {
            b"q" => Format::Int,
            b"d" => Format::Float,
            b"xxxxxxx?" => Format::Bool,
            b"xxxxxx?x" => Format::None,
            [digits @ .., b's'] if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
                Format::Bytes(std::str::from_utf8(digits).ok()?.parse().ok()?)
            }
            _ => return None,
        })
    }

    fn encode(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        let text: std::borrow::Cow<'_, [u8]> = match self {
            Format::Int => b"q"[..].into(),
            Format::Float => b"d"[..].into(),
            Format::Bool => b"xxxxxxx?"[..].into(),
            Format::None => b"xxxxxx?x"[..].into(),
            Format::Bytes(n) => format!("{n}s").into_bytes().into(),
        };
        out[..text.len()].copy_from_slice(&text);
        out
    }

    fn as_str(self) -> String {
        let raw = self.encode();
        let end = raw.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }
}

/// How a value read back becomes an item.
const CODE_PLAIN: i8 = 0;
const CODE_STR: i8 = 1;
const CODE_BYTES: i8 = 2;
const CODE_NONE: i8 = 3;

impl ListItem {
    /// The format, code and encoded value of this item, at a position with `room` bytes whose
    /// current format is `current`.
    fn packed(&self, current: Option<Format>, room: usize) -> (Format, i8, Vec<u8>) {
        match self {
            ListItem::Int(v) => (Format::Int, CODE_PLAIN, v.to_ne_bytes().to_vec()),
            ListItem::Float(v) => (Format::Float, CODE_PLAIN, v.to_ne_bytes().to_vec()),
            ListItem::Bool(v) => {
                let mut b = vec![0u8; 8];
                b[7] = u8::from(*v);
                (Format::Bool, CODE_PLAIN, b)
            }
            ListItem::None => (Format::None, CODE_NONE, vec![0u8; 8]),
            ListItem::Str(s) => Self::packed_bytes(s.as_bytes(), CODE_STR, current, room),
            ListItem::Bytes(b) => Self::packed_bytes(b, CODE_BYTES, current, room),
        }
    }

    fn packed_bytes(
        v: &[u8],
        code: i8,
        current: Option<Format>,
        room: usize,
    ) -> (Format, i8, Vec<u8>) {
        // Python keeps a position's `<N>s` format once it has one.
        let n = match current {
            Some(Format::Bytes(n)) if n >= v.len() && n <= room => n,
            _ => room,
        };
        let mut b = v.to_vec();
        b.resize(n, 0);
        (Format::Bytes(n), code, b)
    }

    /// The room a new list gives this item: 8, or for a string or bytes of `len` bytes the
    /// next multiple of 8 above it (Python's rule, on the UTF-8 length).
    fn room(&self) -> usize {
        match self {
            ListItem::Str(s) => (s.len() / 8 + 1) * 8,
            ListItem::Bytes(b) => (b.len() / 8 + 1) * 8,
            _ => 8,
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            ListItem::Str(s) => s.len(),
            ListItem::Bytes(b) => b.len(),
            _ => 8,
        }
    }
}

/// A list of ints, floats, bools, strings, bytes and `None`s in a named shared memory segment
/// (Python's `shared_memory.ShareableList`), laid out as Python lays it out: a Python program
/// can attach to it by name (`ShareableList(name=...)`), and this crate can attach to one made
/// by Python.
///
/// Its length is fixed, and so is the room of each position: a string or bytes may be replaced
/// by a longer one only up to the room it was created with (the next multiple of 8 above its
/// length), and a number, bool or `None` by a string of 8 bytes at most. There is no lock, as
/// in Python: use a [`Lock`](crate::Lock) where processes write the same items.
///
/// The segment is a [`SharedMemory`] ([`shm`](ShareableList::shm)): tracked by its creator,
/// removed with [`unlink`](ShareableList::unlink). It travels to other processes by
/// descriptor, as a `SharedMemory` does.
///
/// ```
/// use multiproc::shared::{ListItem, ShareableList};
/// # fn main() -> Result<(), multiproc::ShmError> {
/// let list = ShareableList::new([ListItem::from("howdy"), 42.into(), (-1.5).into(), ListItem::None])?;
/// let same = ShareableList::attach(list.name())?;
/// same.set(1, 43)?;
/// assert_eq!(list.get(1)?, ListItem::Int(43));
/// assert_eq!(list.format()?, "8sqdxxxxxx?x");
/// assert!(list.set(0, "a string of more than eight bytes").is_err());
/// list.unlink()?;
/// # Ok(()) }
/// ```
pub struct ShareableList {
    shm: SharedMemory,
    /// Where each item's room starts in the data area, and where the last one ends: fixed
    /// when the list is made.
    offsets: Vec<usize>,
}

impl ShareableList {
    /// A new list holding `items`, in a segment under a fresh random name, tracked by this
    /// process (Python's `ShareableList(sequence)`).
    pub fn new<I>(items: I) -> Result<ShareableList, ShmError>
    where
        I: IntoIterator,
        I::Item: Into<ListItem>,
    {
        ShareableList::create_in(None, items, Keeper::Process)
    }

    /// A new list holding `items`, in a segment named `name` (Python's
    /// `ShareableList(sequence, name=name)`).
    pub fn create_named<I>(name: &str, items: I) -> Result<ShareableList, ShmError>
    where
        I: IntoIterator,
        I::Item: Into<ListItem>,
    {
        ShareableList::create_in(Some(name), items, Keeper::Process)
    }

    /// Attaches to the list in segment `name`, made by this crate or by Python (Python's
    /// `ShareableList(name=name)`).
    pub fn attach(name: &str) -> Result<ShareableList, ShmError> {
        ShareableList::from_shared_memory(SharedMemory::attach(name)?)
    }

    /// The list that segment `shm` holds (for one attached with [`SharedMemory::options`]).
    pub fn from_shared_memory(shm: SharedMemory) -> Result<ShareableList, ShmError> {
        let not_a_list = |why: String| ShmError::NotAList {
            name: shm.name().to_owned(),
            why,
        };
        let size = shm.size();
        if size < 16 {
            return Err(not_a_list(format!("{size} bytes hold no list")));
        }
        let n = read_i64(&shm, 0);
        // Each item takes at least 8 bytes of offset, 8 of data, 8 of format and 1 of code.
        let n = usize::try_from(n)
            .ok()
            .filter(|n| n.checked_mul(25).is_some_and(|b| b + 16 <= size))
            .ok_or_else(|| not_a_list(format!("a length of {n} in {size} bytes")))?;
        let mut offsets = Vec::with_capacity(n + 1);
        for i in 0..=n {
            let off = read_i64(&shm, 8 + 8 * i);
            let off = usize::try_from(off)
                .map_err(|_| not_a_list(format!("offset {off} of item {i}")))?;
            offsets.push(off);
        }
        let room_ok = offsets.windows(2).all(|w| w[1] >= w[0] + 8);
        let end = (n + 2) * 8 + offsets[n] + 9 * n;
        if offsets[0] != 0 || !room_ok || end > size {
            return Err(not_a_list(format!(
                "its item offsets {offsets:?} do not fit {size} bytes"
            )));
        }
        Ok(ShareableList { shm, offsets })
    }

    pub(super) fn create_in<I>(
        name: Option<&str>,
        items: I,
        keeper: Keeper<'_>,
    ) -> Result<ShareableList, ShmError>
    where
        I: IntoIterator,
        I::Item: Into<ListItem>,
    {
        let items: Vec<ListItem> = items.into_iter().map(Into::into).collect();
        let n = items.len();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0usize);
        for (index, item) in items.iter().enumerate() {
            let room = item.room();
            if room > MAX_ROOM {
                return Err(ShmError::ItemTooLarge {
                    index,
                    size: item.encoded_len(),
                    room: MAX_ITEM,
                });
            }
            offsets.push(offsets[index] + room);
        }
        let size = (n + 2) * 8 + offsets[n] + 9 * n;
        let shm = SharedMemory::create_in(name, size, keeper)?;
        write_i64(&shm, 0, n as i64);
        for (i, off) in offsets.iter().enumerate() {
            write_i64(&shm, 8 + 8 * i, *off as i64);
        }
        let list = ShareableList { shm, offsets };
        for (i, item) in items.iter().enumerate() {
            list.store(i, item, None);
        }
        Ok(list)
    }

    /// The number of items (Python's `len`).
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether the list has no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn data_start(&self) -> usize {
        (self.len() + 2) * 8
    }

    fn formats_start(&self) -> usize {
        self.data_start() + self.offsets[self.len()]
    }

    fn codes_start(&self) -> usize {
        self.formats_start() + 8 * self.len()
    }

    fn check(&self, index: usize) -> Result<(), ShmError> {
        if index < self.len() {
            Ok(())
        } else {
            Err(ShmError::IndexOutOfRange {
                index,
                len: self.len(),
            })
        }
    }

    fn raw_format(&self, index: usize) -> [u8; 8] {
        let mut raw = [0u8; 8];
        self.shm.read(self.formats_start() + 8 * index, &mut raw);
        raw
    }

    fn format_of(&self, index: usize) -> Result<Format, ShmError> {
        let raw = self.raw_format(index);
        Format::parse(&raw).ok_or_else(|| {
            self.not_a_list(format!(
                "item {index} has the unknown format {:?}",
                String::from_utf8_lossy(&raw).trim_end_matches('\0')
            ))
        })
    }

    fn not_a_list(&self, why: String) -> ShmError {
        ShmError::NotAList {
            name: self.shm.name().to_owned(),
            why,
        }
    }

    /// The item at `index` (Python's `list[index]`).
    pub fn get(&self, index: usize) -> Result<ListItem, ShmError> {
        self.check(index)?;
        let format = self.format_of(index)?;
        let mut code = [0u8];
        self.shm.read(self.codes_start() + index, &mut code);
        let at = self.data_start() + self.offsets[index];
        let room = self.offsets[index + 1] - self.offsets[index];
        let mut word = [0u8; 8];
        let value = match format {
            Format::Bytes(n) if n > room => {
                return Err(
                    self.not_a_list(format!("item {index} claims {n} bytes in a room of {room}"))
                );
            }
            Format::Bytes(n) => {
                let mut b = vec![0u8; n];
                self.shm.read(at, &mut b);
                ListItem::Bytes(b)
            }
            Format::Int => {
                self.shm.read(at, &mut word);
                ListItem::Int(i64::from_ne_bytes(word))
            }
            Format::Float => {
                self.shm.read(at, &mut word);
                ListItem::Float(f64::from_ne_bytes(word))
            }
            Format::Bool => {
                self.shm.read(at, &mut word);
                ListItem::Bool(word[7] != 0)
            }
            Format::None => {
                self.shm.read(at, &mut word);
                ListItem::Bool(word[6] != 0)
            }
        };
        let strip = |mut b: Vec<u8>| {
            let end = b.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
            b.truncate(end);
            b
        };
        match (code[0] as i8, value) {
            (CODE_PLAIN, v) => Ok(v),
            (CODE_STR, ListItem::Bytes(b)) => String::from_utf8(strip(b))
                .map(ListItem::Str)
                .map_err(|_| self.not_a_list(format!("item {index} is not UTF-8"))),
            (CODE_BYTES, ListItem::Bytes(b)) => Ok(ListItem::Bytes(strip(b))),
            (CODE_NONE, _) => Ok(ListItem::None),
            (c, _) => Err(self.not_a_list(format!(
                "item {index} has code {c} with format {}",
                format.as_str()
            ))),
        }
    }

    /// Replaces the item at `index` (Python's `list[index] = item`). A string or bytes must
    /// fit the room of its position ([`ShmError::ItemTooLarge`] otherwise, and nothing
    /// changes).
    pub fn set(&self, index: usize, item: impl Into<ListItem>) -> Result<(), ShmError> {
        self.check(index)?;
        let item = item.into();
        let room = self.offsets[index + 1] - self.offsets[index];
        if item.encoded_len() > room {
            return Err(ShmError::ItemTooLarge {
                index,
                size: item.encoded_len(),
                room,
            });
        }
        let current = Format::parse(&self.raw_format(index));
        self.store(index, &item, current);
        Ok(())
    }

    /// Writes `item` at `index`: format, code, then value, as Python does. It fits.
    fn store(&self, index: usize, item: &ListItem, current: Option<Format>) {
        let room = self.offsets[index + 1] - self.offsets[index];
        let (format, code, value) = item.packed(current, room);
        self.shm
            .write(self.formats_start() + 8 * index, &format.encode());
        self.shm.write(self.codes_start() + index, &[code as u8]);
        self.shm
            .write(self.data_start() + self.offsets[index], &value);
    }

    /// Every item, in order.
    pub fn to_vec(&self) -> Result<Vec<ListItem>, ShmError> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }

    /// The `struct` format of all items, in order (Python's `format`): `q`, `d`,
    /// `xxxxxxx?`, `xxxxxx?x` or `<N>s` each.
    pub fn format(&self) -> Result<String, ShmError> {
        (0..self.len())
            .map(|i| self.format_of(i).map(Format::as_str))
            .collect()
    }

    /// How many items equal `item` (Python's `count`). Unlike Python's, an `Int(1)` does not
    /// equal a `Float(1.0)` or a `Bool(true)`.
    pub fn count(&self, item: &ListItem) -> Result<usize, ShmError> {
        let mut n = 0;
        for i in 0..self.len() {
            n += usize::from(self.get(i)? == *item);
        }
        Ok(n)
    }

    /// The first position of an item equal to `item` (Python's `index`, which raises
    /// `ValueError` where this returns `None`).
    pub fn index(&self, item: &ListItem) -> Result<Option<usize>, ShmError> {
        for i in 0..self.len() {
            if self.get(i)? == *item {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// The segment that holds the list (Python's `shm`).
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.shm.name()
    }

    /// Removes the segment's name (Python's `list.shm.unlink()`); see
    /// [`SharedMemory::unlink`].
    pub fn unlink(&self) -> Result<(), ShmError> {
        self.shm.unlink()
    }
}

fn read_i64(shm: &SharedMemory, at: usize) -> i64 {
    let mut b = [0u8; 8];
    shm.read(at, &mut b);
    i64::from_ne_bytes(b)
}

fn write_i64(shm: &SharedMemory, at: usize, v: i64) {
    shm.write(at, &v.to_ne_bytes());
}

impl fmt::Debug for ShareableList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ShareableList");
        d.field("name", &self.name());
        match self.to_vec() {
            Ok(items) => d.field("items", &items),
            Err(e) => d.field("items", &format_args!("<{e}>")),
        };
        d.finish()
    }
}

impl Serialize for ShareableList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

/// A list passed to another process arrives attached, by descriptor, as a [`SharedMemory`]
/// does; its layout is checked again there.
impl<'de> Deserialize<'de> for ShareableList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shm = SharedMemory::deserialize(d)?;
        ShareableList::from_shared_memory(shm).map_err(|e| crate::codec::de_error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<ListItem> {
        vec![
            ListItem::from(1),
            ListItem::from(2.5),
            ListItem::from(true),
            ListItem::from("héllo"),
            ListItem::from(&b"\x00raw"[..]),
            ListItem::None,
            ListItem::from(""),
        ]
    }

    #[test]
    fn roundtrip_and_python_layout() {
        let list = ShareableList::new(items()).unwrap();
        assert_eq!(list.len(), 7);
        assert_eq!(list.to_vec().unwrap(), items());
        // "héllo" is 6 bytes: room 8; b"\0raw" 4: room 8; "" 0: room 8.
        assert_eq!(list.format().unwrap(), "qdxxxxxxx?8s8sxxxxxx?x8s");
        assert_eq!(list.offsets, [0, 8, 16, 24, 32, 40, 48, 56]);
        // 8 (n) + 8 * 8 (offsets) + 56 (data) + 7 * 8 (formats) + 7 (codes).
        assert_eq!(list.shm().size(), 8 + 64 + 56 + 56 + 7);
        list.unlink().unwrap();
    }

    #[test]
    fn set_keeps_the_room_and_changes_kinds() {
        let list = ShareableList::new(["sixteen bytes!!!", "x"]).unwrap();
        assert_eq!(list.format().unwrap(), "24s8s");
        list.set(0, 7).unwrap();
        assert_eq!(list.get(0).unwrap(), ListItem::Int(7));
        // Back to a string: the whole room is its format again.
        list.set(0, "twenty-four bytes long!!").unwrap();
        assert_eq!(list.format().unwrap(), "24s8s");
        let err = list.set(1, "nine byte").unwrap_err();
        assert!(
            matches!(
                err,
                ShmError::ItemTooLarge {
                    index: 1,
                    size: 9,
                    room: 8
                }
            ),
            "{err}"
        );
        assert_eq!(list.get(1).unwrap(), ListItem::from("x"));
        assert!(matches!(
            list.get(2),
            Err(ShmError::IndexOutOfRange { index: 2, len: 2 })
        ));
        assert_eq!(list.count(&ListItem::from("x")).unwrap(), 1);
        assert_eq!(list.index(&ListItem::from("x")).unwrap(), Some(1));
        assert_eq!(list.index(&ListItem::None).unwrap(), None);
        list.unlink().unwrap();
    }

    #[test]
    fn empty_list_and_garbage_segments() {
        let list = ShareableList::new(Vec::<ListItem>::new()).unwrap();
        assert!(list.is_empty());
        assert_eq!(ShareableList::attach(list.name()).unwrap().len(), 0);
        list.unlink().unwrap();
        let shm = SharedMemory::create(64).unwrap();
        shm.write(0, &1_000_000i64.to_ne_bytes());
        let err = ShareableList::attach(shm.name()).unwrap_err();
        assert!(matches!(err, ShmError::NotAList { .. }), "{err}");
        shm.write(0, &1i64.to_ne_bytes());
        shm.write(8, &0i64.to_ne_bytes());
        shm.write(16, &4i64.to_ne_bytes());
        assert!(ShareableList::attach(shm.name()).is_err(), "room under 8");
        shm.unlink().unwrap();
    }

    #[test]
    fn the_largest_item_fits_a_format() {
        let fits = ListItem::Bytes(vec![1; MAX_ITEM]);
        assert!(fits.room() <= MAX_ROOM);
        assert!(ListItem::Bytes(vec![1; MAX_ITEM + 1]).room() > MAX_ROOM);
        let err = ShareableList::new([vec![0u8; MAX_ITEM + 1]]).unwrap_err();
        assert!(
            matches!(err, ShmError::ItemTooLarge { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn formats_parse_back() {
        for f in [
            Format::Int,
            Format::Float,
            Format::Bool,
            Format::None,
            Format::Bytes(8),
            Format::Bytes(MAX_ROOM),
        ] {
            assert_eq!(Format::parse(&f.encode()), Some(f));
        }
        assert_eq!(Format::parse(b"s\0\0\0\0\0\0\0"), None);
        assert_eq!(Format::parse(b"i\0\0\0\0\0\0\0"), None);
    }

    #[test]
    fn travels_by_descriptor() {
        let list = ShareableList::new([1, 2, 3]).unwrap();
        let e = crate::codec::encode(&list).unwrap();
        let got: ShareableList = crate::codec::decode(&e.bytes, e.fds).unwrap();
        got.set(2, 30).unwrap();
        assert_eq!(list.get(2).unwrap(), ListItem::Int(30));
        list.unlink().unwrap();
    }
}
