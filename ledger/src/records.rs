//! The state's record of every entry, kept compactly. The rules read old entries rarely (acknowledgements,
//! reversals, refunds, duplicates) and traces read them one at a time, so each record is kept encoded
//! (postcard: small integers take a byte or two, amounts their significant bytes) and decoded when read.
//! The entry id, read far more often, sits in a column of its own; the table that finds an index by entry
//! id holds only the index and hashes the id from its column.
//!
//! The leaf hash itself is not kept (the log's Merkle tree holds it): only its first 16 bytes, which tell a
//! resubmitted entry (the same leaf) from a different entry reusing an id. Making a different entry whose
//! leaf hash starts with the same 128 bits is a second-preimage search on SHA-256 truncated to 128 bits.
//!
//! At one million entries of a field mix this keeps about a third of what a vector of decoded records did.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, Hash as StdHash, RandomState};

use hashbrown::HashTable;
use serde::de::{self, Deserializer};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use serde_bytes::{ByteBuf, Bytes};

use crate::entry::Kind;
use crate::merkle::Hash;
use crate::state::{AssetIndex, Detail, EntryRecord, Flow, FlowKind, OrgIndex, Party, SpendRecipient, grow_gently};
use crate::types::{Category, Commitment, Date, EntryId};

/// A number below 2^40 in 5 bytes: a log index or a position in the encodings. The tables keep one or two
/// per entry; a log of 2^40 entries would need a hundred terabytes of memory first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct U40([u8; 5]);

impl U40 {
    fn new(value: u64) -> U40 {
        assert!(value < 1 << 40, "{value} does not fit the state's 40-bit positions");
        let [a, b, c, d, e, ..] = value.to_le_bytes();
        U40([a, b, c, d, e])
    }

    fn get(self) -> u64 {
        let [a, b, c, d, e] = self.0;
        u64::from_le_bytes([a, b, c, d, e, 0, 0, 0])
    }
}

/// A set of log indexes found by a key that each index's record holds: the table keeps only the 5-byte
/// index, and asks for an index's key to compare it or to move it when the table grows. Keys are hashed
/// with a per-process random key, so that authors cannot choose ids (or commitments) that collide.
#[derive(Clone, Default)]
pub(crate) struct IndexSet {
    table: HashTable<U40>,
    hasher: RandomState,
}

impl IndexSet {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }

    /// The index whose key is `key`; `key_at` gives the key of a stored index.
    pub(crate) fn find<K: StdHash + Eq>(&self, key: &K, key_at: impl Fn(u64) -> K) -> Option<u64> {
        self.table.find(self.hasher.hash_one(key), |index| key_at(index.get()) == *key).map(|index| index.get())
    }

    /// Adds `index`, whose key is `key` (not already in the set).
    pub(crate) fn insert<K: StdHash>(&mut self, key: &K, index: u64, key_at: impl Fn(u64) -> K) {
        let hasher = &self.hasher;
        self.table.insert_unique(hasher.hash_one(key), U40::new(index), |stored| hasher.hash_one(key_at(stored.get())));
    }

    /// Bytes on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        // hashbrown keeps one control byte per bucket, plus a group's worth at the end.
        self.table.capacity().next_power_of_two() * (size_of::<U40>() + 1)
    }
}

/// What is encoded of each entry: everything but its position, id and leaf hash.
type Encoded = (Kind, Party, Option<Date>, Detail);

/// The beginning of a spend's encoding: kind, author, value date, the detail's variant, then the spend's
/// `from`, `asset`, `amount`, `category`, and its recipient's variant and commitment.
type SpendPrefix = (Kind, Party, Option<Date>, u32, OrgIndex, AssetIndex, u128, Category, u32, Commitment);
/// `Detail::Spend`'s position among `Detail`'s variants (postcard writes a variant as its position).
const SPEND_VARIANT: u32 = 3;
/// `SpendRecipient::Beneficiary`'s position.
const BENEFICIARY_VARIANT: u32 = 0;

/// The first 16 bytes of a leaf hash.
type LeafPrefix = [u8; 16];

fn leaf_prefix(leaf_hash: &Hash) -> LeafPrefix {
    leaf_hash[..16].try_into().expect("a hash has 32 bytes")
}

/// Every entry's record, by log index.
#[derive(Clone, Default)]
pub(crate) struct Records {
    ids: Vec<EntryId>,
    /// The first bytes of each leaf hash.
    leaf_prefixes: Vec<LeafPrefix>,
    /// Where each record's encoding starts in `bytes` (a record changed to a longer encoding moves to the end).
    starts: Vec<U40>,
    bytes: Vec<u8>,
    by_id: IndexSet,
    /// The spends that named a beneficiary, by their commitment (the rules let each commitment be used once).
    by_beneficiary: IndexSet,
    /// The newest record, decoded: the anomaly flags read it right after it is appended.
    newest: Option<EntryRecord>,
}

impl Records {
    pub(crate) fn len(&self) -> u64 {
        self.ids.len() as u64
    }

    /// Appends the record of the entry at index `len()`, whose leaf hash is `leaf_hash`.
    pub(crate) fn push(&mut self, record: EntryRecord, leaf_hash: &Hash) {
        let index = self.len();
        debug_assert_eq!(record.index, index, "records are appended in log order");
        grow_gently(&mut self.ids);
        grow_gently(&mut self.leaf_prefixes);
        grow_gently(&mut self.starts);
        self.ids.push(record.entry_id);
        self.leaf_prefixes.push(leaf_prefix(leaf_hash));
        self.starts.push(U40::new(self.bytes.len() as u64));
        self.append_encoding(&(record.kind, record.author, record.value_date, &record.detail));
        self.index(index, &record.detail);
        self.newest = Some(record);
    }

    /// The newest record (which must exist), without decoding it again when it was just appended.
    pub(crate) fn newest(&self) -> Cow<'_, EntryRecord> {
        match &self.newest {
            Some(record) if record.index + 1 == self.len() => Cow::Borrowed(record),
            _ => Cow::Owned(self.get(self.len() - 1)),
        }
    }

    /// Adds the record at `index`, whose detail is `detail`, to the lookup tables.
    fn index(&mut self, index: u64, detail: &Detail) {
        let ids = &self.ids;
        self.by_id.insert(&ids[index as usize], index, |stored| ids[stored as usize]);
        if let Detail::Spend { recipient: SpendRecipient::Beneficiary(commitment), .. } = detail {
            let mut by_beneficiary = std::mem::take(&mut self.by_beneficiary);
            by_beneficiary.insert(commitment, index, |stored| self.beneficiary_of(stored));
            self.by_beneficiary = by_beneficiary;
        }
    }

    /// The beneficiary commitment of the spend at `index`. The table of commitments asks for it on every
    /// near match and for every spend each time it grows, so only the encoding's beginning is read: the
    /// spend's fields up to its recipient, in the order postcard writes them (the test below compares it with
    /// a full decode).
    fn beneficiary_of(&self, index: u64) -> Commitment {
        let start = self.starts[index as usize].get() as usize;
        let ((_, _, _, variant, _, _, _, _, recipient, commitment), _) =
            postcard::take_from_bytes::<SpendPrefix>(&self.bytes[start..]).expect("records decode as encoded");
        assert!(
            variant == SPEND_VARIANT && recipient == BENEFICIARY_VARIANT,
            "only spends to a beneficiary are indexed by commitment"
        );
        commitment
    }

    /// Makes room for at least `extra` more bytes of encodings (growing by a quarter, like the columns).
    fn make_room(&mut self, extra: usize) {
        if self.bytes.capacity() - self.bytes.len() < extra.max(256) {
            self.bytes.reserve_exact((self.bytes.len() / 4).max(4096).max(extra));
        }
    }

    fn append_encoding(&mut self, value: &impl Serialize) {
        self.make_room(256);
        self.bytes = postcard::to_extend(value, std::mem::take(&mut self.bytes)).expect("a record always encodes");
    }

    fn decode(&self, index: u64) -> (Encoded, usize) {
        let start = self.starts[index as usize].get() as usize;
        let from = &self.bytes[start..];
        let (encoded, rest) = postcard::take_from_bytes::<Encoded>(from).expect("records decode as they were encoded");
        (encoded, from.len() - rest.len())
    }

    /// The record at `index` (which must be below `len()`).
    pub(crate) fn get(&self, index: u64) -> EntryRecord {
        let ((kind, author, value_date, detail), _) = self.decode(index);
        EntryRecord { index, entry_id: self.ids[index as usize], kind, author, value_date, detail }
    }

    pub(crate) fn entry_id(&self, index: u64) -> EntryId {
        self.ids[index as usize]
    }

    pub(crate) fn try_entry_id(&self, index: u64) -> Option<EntryId> {
        usize::try_from(index).ok().and_then(|index| self.ids.get(index)).copied()
    }

    /// Whether the entry at `index` has this leaf hash (compared on its first 16 bytes).
    pub(crate) fn same_leaf(&self, index: u64, leaf_hash: &Hash) -> bool {
        self.leaf_prefixes[index as usize] == leaf_prefix(leaf_hash)
    }

    /// The log index of an entry id.
    pub(crate) fn find(&self, entry_id: &EntryId) -> Option<u64> {
        self.by_id.find(entry_id, |index| self.ids[index as usize])
    }

    /// The spend that named this beneficiary commitment, if one did.
    pub(crate) fn find_beneficiary(&self, commitment: &Commitment) -> Option<u64> {
        self.by_beneficiary.find(commitment, |index| self.beneficiary_of(index))
    }

    /// Changes the detail of the record at `index` (an acknowledgement or a reversal marks its target).
    pub(crate) fn update_detail(&mut self, index: u64, change: impl FnOnce(&mut Detail)) {
        let ((kind, author, value_date, mut detail), length) = self.decode(index);
        change(&mut detail);
        if let Some(newest) = self.newest.as_mut().filter(|newest| newest.index == index) {
            newest.detail = detail.clone();
        }
        let encoded = postcard::to_stdvec(&(kind, author, value_date, &detail)).expect("a record always encodes");
        let start = self.starts[index as usize].get() as usize;
        if encoded.len() <= length {
            // Whatever follows the new encoding inside the old one is never read.
            self.bytes[start..start + encoded.len()].copy_from_slice(&encoded);
        } else {
            self.starts[index as usize] = U40::new(self.bytes.len() as u64);
            self.make_room(encoded.len());
            self.bytes.extend_from_slice(&encoded);
        }
    }

    /// Every record in log order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = EntryRecord> + '_ {
        (0..self.len()).map(|index| self.get(index))
    }

    /// Bytes on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ids.capacity() * size_of::<EntryId>()
            + self.leaf_prefixes.capacity() * size_of::<LeafPrefix>()
            + self.starts.capacity() * size_of::<U40>()
            + self.bytes.capacity()
            + self.by_id.heap_bytes()
            + self.by_beneficiary.heap_bytes()
    }
}

/// Records are equal when they hold the same entries in the same encodings; the id table follows from the ids.
impl PartialEq for Records {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids
            && self.leaf_prefixes == other.leaf_prefixes
            && self.starts == other.starts
            && self.bytes == other.bytes
    }
}

impl Eq for Records {}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records").field("len", &self.len()).field("encoded_bytes", &self.bytes.len()).finish()
    }
}

/// One donation's flows in log order, each encoded after the previous one: the distance from the previous
/// flow's entry, the kind and the amount, a few bytes in all (a decoded [`Flow`] takes 48).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FlowList {
    /// The entry of the last flow (flows only ever come in log order).
    last_entry: u64,
    bytes: Vec<u8>,
}

impl FlowList {
    pub(crate) fn push(&mut self, flow: Flow) {
        debug_assert!(flow.entry_index >= self.last_entry, "flows come in log order");
        let step = (flow.entry_index - self.last_entry, flow.kind, flow.amount);
        if self.bytes.len() == self.bytes.capacity() {
            self.bytes.reserve_exact((self.bytes.len() / 4).max(16));
        }
        self.bytes = postcard::to_extend(&step, std::mem::take(&mut self.bytes)).expect("a flow always encodes");
        self.last_entry = flow.entry_index;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// The flows, decoded.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Flow> + '_ {
        let mut entry_index = 0;
        flow_steps(&self.bytes).map(move |step| {
            let (distance, kind, amount) = step.expect("flows decode as they were encoded");
            entry_index += distance;
            Flow { entry_index, kind, amount }
        })
    }
}

/// The encoded steps of a flow list, one after another: (distance from the previous flow's entry, kind,
/// amount).
fn flow_steps(bytes: &[u8]) -> impl Iterator<Item = postcard::Result<(u64, FlowKind, u128)>> + '_ {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        Some(postcard::take_from_bytes::<(u64, FlowKind, u128)>(rest).map(|(step, after)| {
            rest = after;
            step
        }))
    })
}

impl Serialize for FlowList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.last_entry, Bytes::new(&self.bytes)).serialize(serializer)
    }
}

/// A flow list read back is checked to decode to the end, in log order, up to its last entry.
impl<'de> Deserialize<'de> for FlowList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (last_entry, bytes) = <(u64, ByteBuf)>::deserialize(deserializer)?;
        let list = FlowList { last_entry, bytes: bytes.into_vec() };
        let mut entry_index: u64 = 0;
        for step in flow_steps(&list.bytes) {
            let (distance, _, _) =
                step.map_err(|error| de::Error::custom(format!("a flow does not decode: {error}")))?;
            entry_index =
                entry_index.checked_add(distance).ok_or_else(|| de::Error::custom("a flow's entry is out of range"))?;
        }
        if entry_index != last_entry {
            return Err(de::Error::custom("a flow list does not end at its last entry"));
        }
        Ok(list)
    }
}

/// Serialised as four parts: the ids and the leaf hash prefixes each as one byte string, the starts, the
/// encodings.
impl Serialize for Records {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ids: Vec<u8> = self.ids.iter().flat_map(|id| id.0).collect();
        let mut tuple = serializer.serialize_tuple(4)?;
        tuple.serialize_element(Bytes::new(&ids))?;
        tuple.serialize_element(Bytes::new(self.leaf_prefixes.as_flattened()))?;
        tuple.serialize_element(&self.starts.iter().map(|start| start.get()).collect::<Vec<u64>>())?;
        tuple.serialize_element(Bytes::new(&self.bytes))?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (ids, leaf_prefixes, starts, bytes) = <(ByteBuf, ByteBuf, Vec<u64>, ByteBuf)>::deserialize(deserializer)?;
        let (ids, leaf_prefixes, bytes) = (ids.into_vec(), leaf_prefixes.into_vec(), bytes.into_vec());
        let count = starts.len();
        if ids.len() != count * size_of::<EntryId>() || leaf_prefixes.len() != count * size_of::<LeafPrefix>() {
            return Err(de::Error::custom("the records' ids, leaf hashes and starts differ in number"));
        }
        if starts.iter().any(|&start| start >= bytes.len() as u64) {
            return Err(de::Error::custom("a record starts past the end of the encodings"));
        }
        let starts = starts.into_iter().map(U40::new).collect();
        let mut records = Records {
            ids: ids.chunks_exact(16).map(|id| EntryId(id.try_into().expect("16 bytes"))).collect(),
            leaf_prefixes: leaf_prefixes.chunks_exact(16).map(|prefix| prefix.try_into().expect("16 bytes")).collect(),
            starts,
            bytes,
            by_id: IndexSet::default(),
            by_beneficiary: IndexSet::default(),
            newest: None,
        };
        for index in 0..records.len() {
            let id = records.ids[index as usize];
            if records.find(&id).is_some() {
                return Err(de::Error::custom(format!("entry id {id} is recorded twice")));
            }
            let start = records.starts[index as usize].get() as usize;
            let ((_, _, _, detail), _) = postcard::take_from_bytes::<Encoded>(&records.bytes[start..])
                .map_err(|error| de::Error::custom(format!("record {index} does not decode: {error}")))?;
            if let Detail::Spend { recipient: SpendRecipient::Beneficiary(commitment), .. } = &detail
                && records.find_beneficiary(commitment).is_some()
            {
                return Err(de::Error::custom(format!("beneficiary commitment {commitment} is recorded twice")));
            }
            records.index(index, &detail);
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{DonorRef, Piece};

    fn record(index: u64, detail: Detail) -> EntryRecord {
        EntryRecord {
            index,
            entry_id: EntryId([index as u8 + 1; 16]),
            kind: Kind::Transfer,
            author: Party::Organisation(3),
            value_date: Some(Date::from_days(20_000).unwrap()),
            detail,
        }
    }

    fn transfer() -> Detail {
        Detail::Transfer {
            from: 1,
            to: 2,
            asset: 0,
            amount: 12_345,
            pieces: Box::new([]),
            acknowledged_at: None,
            reversed: false,
        }
    }

    #[test]
    fn records_read_back_change_in_place_or_move_and_survive_serialisation() {
        let mut records = Records::default();
        let spend = Detail::Spend {
            from: 2,
            asset: 0,
            amount: u128::MAX,
            category: Category::Medicine,
            recipient: SpendRecipient::Beneficiary(Commitment([7; 32])),
            pieces: Box::new([Piece { from: (9, 1), origin: 2, earmark: None, amount: 300 }]),
            reversed: false,
        };
        let donation = Detail::Donation {
            holder: 1,
            donor: DonorRef::Anonymous(Commitment([9; 32])),
            asset: 0,
            amount: 5,
            earmark: None,
            reversed: false,
        };
        for (index, detail) in [transfer(), spend, donation].into_iter().enumerate() {
            records.push(record(index as u64, detail), &[index as u8; 32]);
        }
        assert_eq!(records.len(), 3);
        assert_eq!(records.get(1), record(1, records.get(1).detail));
        assert!(matches!(records.get(1).detail, Detail::Spend { amount: u128::MAX, .. }));
        assert_eq!(records.beneficiary_of(1), Commitment([7; 32]), "the prefix read agrees with the record");
        assert_eq!(records.find_beneficiary(&Commitment([7; 32])), Some(1));
        assert_eq!(records.find_beneficiary(&Commitment([9; 32])), None, "a donor reference is no beneficiary");
        assert_eq!(records.find(&EntryId([3; 16])), Some(2));
        assert_eq!(records.find(&EntryId([4; 16])), None);
        assert_eq!(records.try_entry_id(3), None);
        assert!(records.same_leaf(1, &[1; 32]));
        let mut other_leaf = [1; 32];
        other_leaf[15] = 0;
        assert!(!records.same_leaf(1, &other_leaf));

        // Setting a flag keeps the encoding's length: changed in place.
        let size = records.bytes.len();
        records.update_detail(2, |detail| {
            let Detail::Donation { reversed, .. } = detail else { panic!("a donation") };
            *reversed = true;
        });
        assert_eq!(records.bytes.len(), size);
        assert!(matches!(records.get(2).detail, Detail::Donation { reversed: true, .. }));
        // An acknowledgement makes the transfer's encoding longer: it moves to the end, the others stay.
        records.update_detail(0, |detail| {
            let Detail::Transfer { acknowledged_at, .. } = detail else { panic!("a transfer") };
            *acknowledged_at = Some(1_000_000);
        });
        assert!(records.bytes.len() > size);
        assert!(matches!(records.newest().detail, Detail::Donation { reversed: true, .. }));
        assert!(matches!(records.get(0).detail, Detail::Transfer { acknowledged_at: Some(1_000_000), .. }));
        assert!(matches!(records.get(1).detail, Detail::Spend { .. }));

        let bytes = postcard::to_stdvec(&records).unwrap();
        let back: Records = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, records);
        assert_eq!(back.find(&EntryId([1; 16])), Some(0));
        assert_eq!(back.iter().collect::<Vec<_>>(), records.iter().collect::<Vec<_>>());

        // Damaged parts are refused, not trusted.
        let mut starts_past_end = records.clone();
        starts_past_end.starts[1] = U40::new(starts_past_end.bytes.len() as u64);
        assert!(postcard::from_bytes::<Records>(&postcard::to_stdvec(&starts_past_end).unwrap()).is_err());
        let mut twice = records.clone();
        twice.ids[2] = twice.ids[0];
        assert!(postcard::from_bytes::<Records>(&postcard::to_stdvec(&twice).unwrap()).is_err());
    }

    #[test]
    fn flow_lists_read_back_in_order_and_refuse_damage() {
        let flows = [
            Flow { entry_index: 7, kind: FlowKind::Donated { to: 1 }, amount: 100_000 },
            Flow { entry_index: 7, kind: FlowKind::Spent { by: 1 }, amount: 5 },
            Flow { entry_index: 70_000, kind: FlowKind::Transferred { from: 1, to: 300 }, amount: u128::MAX },
            Flow { entry_index: 1 << 40, kind: FlowKind::Released { from: 2, to: 3, pledge: 9 }, amount: 1 },
        ];
        let mut list = FlowList::default();
        for flow in flows {
            list.push(flow);
        }
        assert_eq!(list.iter().collect::<Vec<_>>(), flows);
        assert!(list.bytes.len() < 48, "{} bytes for four flows", list.bytes.len());
        let back: FlowList = postcard::from_bytes(&postcard::to_stdvec(&list).unwrap()).unwrap();
        assert_eq!(back, list);
        let mut cut = list.clone();
        cut.bytes.pop();
        assert!(postcard::from_bytes::<FlowList>(&postcard::to_stdvec(&cut).unwrap()).is_err());
        let mut wrong_end = list.clone();
        wrong_end.last_entry += 1;
        assert!(postcard::from_bytes::<FlowList>(&postcard::to_stdvec(&wrong_end).unwrap()).is_err());
    }

    #[test]
    fn positions_keep_40_bits() {
        for value in [0, 1, 255, 256, 1 << 32, (1 << 40) - 1] {
            assert_eq!(U40::new(value).get(), value);
        }
        assert!(std::panic::catch_unwind(|| U40::new(1 << 40)).is_err());
    }

    #[test]
    fn the_index_set_finds_by_key_across_growth() {
        let keys: Vec<[u8; 16]> =
            (0..10_000u32).map(|n| [n as u8, (n >> 8) as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).collect();
        let mut set = IndexSet::default();
        for (index, key) in keys.iter().enumerate() {
            set.insert(key, index as u64, |stored| keys[stored as usize]);
        }
        assert_eq!(set.len(), keys.len());
        for (index, key) in keys.iter().enumerate() {
            assert_eq!(set.find(key, |stored| keys[stored as usize]), Some(index as u64));
        }
        assert_eq!(set.find(&[0xff; 16], |stored| keys[stored as usize]), None);
    }
}
