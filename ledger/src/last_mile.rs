//! Last-mile spending in public: money paid to beneficiaries, summed per spending organisation and calendar
//! month or ISO week of the value date, with every cell of fewer than `k` beneficiary spends suppressed
//! (shown as suppressed, with neither amount nor count). `docs/PRIVACY.md` explains what this protects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::state::{Detail, SpendRecipient, State, amount_string};
use crate::types::{AssetCode, Date, OrgId};

/// The suppression threshold used when none is configured.
pub const K_ANONYMITY_DEFAULT: u64 = 10;

/// How value dates are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Calendar months, `YYYY-MM`.
    Month,
    /// ISO 8601 weeks (Monday to Sunday, the week-year of their Thursday), `YYYY-Www`.
    Week,
}

impl Period {
    /// The period a date falls in, as text that sorts in time order.
    pub fn label(self, date: Date) -> String {
        match self {
            Period::Month => {
                let (year, month, _) = date.ymd();
                format!("{year:04}-{month:02}")
            }
            Period::Week => {
                let (year, week) = iso_week(date);
                format!("{year:04}-W{week:02}")
            }
        }
    }
}

/// The ISO 8601 week-year and week number of a date.
pub fn iso_week(date: Date) -> (i64, u32) {
    let days = i64::from(date.days());
    // 1970-01-01 was a Thursday: (days + 3) mod 7 counts from Monday = 0.
    let weekday = (days + 3).rem_euclid(7);
    let thursday = days - weekday + 3;
    let (year, _, _) = Date::from_days(thursday.max(0) as u32).map_or((1970, 1, 1), Date::ymd);
    let first_day = Date::from_ymd(year, 1, 1).map_or(0, |day| i64::from(day.days()));
    let week = (thursday - first_day) / 7 + 1;
    (year, week as u32)
}

/// One cell: a spending organisation in one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMileCell {
    pub organisation: OrgId,
    /// `YYYY-MM` or `YYYY-Www`.
    pub period: String,
    /// True when the cell holds fewer than k beneficiary spends: its amount and count are withheld.
    pub suppressed: bool,
    /// Beneficiary spends in the cell (each with its own commitment); absent when suppressed.
    pub beneficiary_spends: Option<u64>,
    /// Their total in minor units; absent when suppressed.
    #[serde(with = "optional_amount_string")]
    pub total: Option<u128>,
}

mod optional_amount_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<u128>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::amount_string::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u128>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl State {
    /// Beneficiary spends of one asset (reversed ones left out), per spending organisation and period, in
    /// organisation then period order; cells of fewer than `k` spends suppressed. `None` if the asset is
    /// not declared.
    pub fn last_mile(&self, asset: &AssetCode, period: Period, k: u64) -> Option<Vec<LastMileCell>> {
        let asset_index = self.assets.iter().position(|declared| &declared.code == asset)? as u32;
        let mut cells: BTreeMap<(String, String), (u64, u128)> = BTreeMap::new();
        for record in self.entries.iter() {
            let Detail::Spend {
                from,
                asset: spent,
                amount,
                recipient: SpendRecipient::Beneficiary(_),
                reversed: false,
                ..
            } = &record.detail
            else {
                continue;
            };
            let Some(date) = record.value_date else { continue };
            if *spent != asset_index {
                continue;
            }
            let key = (self.organisations[*from as usize].id.to_string(), period.label(date));
            let cell = cells.entry(key).or_insert((0, 0));
            cell.0 += 1;
            cell.1 = cell.1.saturating_add(*amount);
        }
        Some(
            cells
                .into_iter()
                .map(|((organisation, period), (spends, total))| {
                    let shown = spends >= k;
                    LastMileCell {
                        organisation: OrgId::new(organisation).expect("a registered id"),
                        period,
                        suppressed: !shown,
                        beneficiary_spends: shown.then_some(spends),
                        total: shown.then_some(total),
                    }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week(text: &str) -> (i64, u32) {
        iso_week(text.parse().unwrap())
    }

    #[test]
    fn iso_weeks_follow_the_thursday_rule() {
        assert_eq!(week("1970-01-01"), (1970, 1));
        assert_eq!(week("2026-01-01"), (2026, 1), "a Thursday");
        assert_eq!(week("2025-12-29"), (2026, 1), "the Monday of week 1 of 2026");
        assert_eq!(week("2021-01-03"), (2020, 53), "a Sunday in week 53 of 2020");
        assert_eq!(week("2021-01-04"), (2021, 1));
        assert_eq!(week("2026-03-02"), (2026, 10));
        assert_eq!(Period::Week.label("2026-03-08".parse().unwrap()), "2026-W10");
        assert_eq!(Period::Month.label("2026-03-08".parse().unwrap()), "2026-03");
    }
}
