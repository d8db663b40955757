//! Entries in plain English for the API and the command line, with the ledger's own wording
//! ([`ledger::words`]); the explorer uses the same sentences in English and French.

use ledger::words::{self, Language, Lookup};
use ledger::{AssetCode, Entry, State};

struct StateLookup<'a>(&'a State);

impl Lookup for StateLookup<'_> {
    fn decimals(&self, asset: &AssetCode) -> u8 {
        self.0.assets().into_iter().find(|(code, _, _)| code == asset).map_or(0, |(_, decimals, _)| decimals)
    }
}

/// One sentence saying what an entry states.
pub fn describe(entry: &Entry, state: &State) -> String {
    words::describe(entry, &StateLookup(state), Language::English)
}
