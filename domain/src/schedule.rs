//! A tenant's time plan (时间计划): weekly working hours, custom working days and holidays,
//! read in the tenant's time zone.
//!
//! Which applies on a date, most specific first: a holiday (with its own reply) closes the
//! whole day; a custom working day replaces that weekday's hours with its own; otherwise the
//! weekday's hours. Times are wall-clock times in the tenant's zone, so a day with a daylight
//! saving change still opens at 09:00 local time. A range runs from its start up to, not
//! including, its end; `24:00` ends a range at midnight. To cross midnight, use two ranges.

use crate::validate::Invalid;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The zone a tenant's plan is read in unless it names another.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// Minutes after midnight, written `HH:MM` (`24:00` allowed as an end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Clock(u16);

impl TryFrom<String> for Clock {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a time of day; write HH:MM, e.g. 09:00 or 24:00");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 24 || m > 59 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(Clock(h * 60 + m))
    }
}

impl From<Clock> for String {
    fn from(c: Clock) -> String {
        format!("{:02}:{:02}", c.0 / 60, c.0 % 60)
    }
}

impl Clock {
    pub fn hm(h: u16, m: u16) -> Self {
        Clock(h * 60 + m)
    }
}

/// Open from `start` up to (not including) `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    pub start: Clock,
    pub end: Clock,
}

impl Hours {
    pub fn new(start: Clock, end: Clock) -> Self {
        Self { start, end }
    }

    fn contains(&self, minute: u16) -> bool {
        self.start.0 <= minute && minute < self.end.0
    }
}

/// The hours of one weekday (1 Monday … 7 Sunday). A weekday not listed is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkDay {
    pub weekday: u8,
    pub hours: Vec<Hours>,
}

/// A named run of dates (inclusive) worked with their own hours, e.g. a weekend made a
/// working day (调休).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomDays {
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub hours: Vec<Hours>,
}

/// A named run of dates (inclusive) with no service, and what buyers are told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub reply: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    /// An IANA zone name, e.g. `Asia/Shanghai`.
    pub time_zone: String,
    /// Off: always working hours (the plan is kept but not applied).
    pub enabled: bool,
    pub weekly: Vec<WorkDay>,
    pub custom_days: Vec<CustomDays>,
    pub holidays: Vec<Holiday>,
}

impl Default for Schedule {
    /// A tenant that never set a plan is always open.
    fn default() -> Self {
        Self {
            time_zone: DEFAULT_TIME_ZONE.into(),
            enabled: false,
            weekly: Vec::new(),
            custom_days: Vec::new(),
            holidays: Vec::new(),
        }
    }
}

/// What the plan says about a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Period {
    Working,
    OffHours,
    Holiday { name: String, reply: String },
}

impl Schedule {
    /// Monday to Friday, 09:00–18:00 (the seed manual's example), enabled.
    pub fn office_hours() -> Self {
        let hours = vec![Hours::new(Clock::hm(9, 0), Clock::hm(18, 0))];
        Self {
            enabled: true,
            weekly: (1..=5)
                .map(|weekday| WorkDay {
                    weekday,
                    hours: hours.clone(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn zone(&self) -> Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// Refuses plans that cannot be read; the message says what to fix.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.time_zone.parse::<Tz>().is_err() {
            return Err(Invalid::new(
                "time_zone",
                format!(
                    "`{}` is not an IANA time zone; use a name such as Asia/Shanghai or Europe/Berlin",
                    self.time_zone
                ),
            ));
        }
        let mut seen = [false; 8];
        for day in &self.weekly {
            if !(1..=7).contains(&day.weekday) {
                return Err(Invalid::new(
                    "weekly",
                    format!(
                        "weekday {} does not exist; use 1 (Monday) to 7 (Sunday)",
                        day.weekday
                    ),
                ));
            }
            if std::mem::replace(&mut seen[day.weekday as usize], true) {
                return Err(Invalid::new(
                    "weekly",
                    format!(
                        "weekday {} is listed twice; give it one entry with several ranges",
                        day.weekday
                    ),
                ));
            }
            check_hours("weekly", &day.hours)?;
        }
        for d in &self.custom_days {
            check_dates("custom_days", &d.name, d.from, d.to)?;
            check_hours("custom_days", &d.hours)?;
        }
        for h in &self.holidays {
            check_dates("holidays", &h.name, h.from, h.to)?;
            if h.reply.chars().count() > 1000 {
                return Err(Invalid::new(
                    "holidays",
                    format!(
                        "the reply of `{}` is too long; keep it to 1000 characters",
                        h.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The period at `at_ms` (milliseconds since the epoch, UTC).
    pub fn at(&self, at_ms: i64) -> Period {
        if !self.enabled {
            return Period::Working;
        }
        let Some(utc) = DateTime::<Utc>::from_timestamp_millis(at_ms) else {
            return Period::Working;
        };
        let local = self.zone().from_utc_datetime(&utc.naive_utc());
        let date = local.date_naive();
        let minute = (local.hour() * 60 + local.minute()) as u16;
        if let Some(h) = self
            .holidays
            .iter()
            .find(|h| h.from <= date && date <= h.to)
        {
            return Period::Holiday {
                name: h.name.clone(),
                reply: h.reply.clone(),
            };
        }
        let hours: &[Hours] = match self
            .custom_days
            .iter()
            .find(|d| d.from <= date && date <= d.to)
        {
            Some(d) => &d.hours,
            None => {
                let weekday = date.weekday().number_from_monday() as u8;
                self.weekly
                    .iter()
                    .find(|d| d.weekday == weekday)
                    .map(|d| d.hours.as_slice())
                    .unwrap_or(&[])
            }
        };
        if hours.iter().any(|h| h.contains(minute)) {
            Period::Working
        } else {
            Period::OffHours
        }
    }
}

fn check_hours(field: &'static str, hours: &[Hours]) -> Result<(), Invalid> {
    let mut sorted: Vec<Hours> = hours.to_vec();
    sorted.sort_by_key(|h| h.start);
    for h in &sorted {
        if h.start >= h.end {
            return Err(Invalid::new(
                field,
                format!(
                    "{}–{} ends before it starts; to cross midnight use two ranges (e.g. 22:00–24:00 and 00:00–02:00)",
                    String::from(h.start),
                    String::from(h.end)
                ),
            ));
        }
    }
    for pair in sorted.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(Invalid::new(
                field,
                format!(
                    "{}–{} overlaps {}–{}; merge them into one range",
                    String::from(pair[0].start),
                    String::from(pair[0].end),
                    String::from(pair[1].start),
                    String::from(pair[1].end)
                ),
            ));
        }
    }
    Ok(())
}

fn check_dates(
    field: &'static str,
    name: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(), Invalid> {
    if name.trim().is_empty() || name.chars().count() > 64 {
        return Err(Invalid::new(
            field,
            "each entry needs a name of 1 to 64 characters",
        ));
    }
    if to < from {
        return Err(Invalid::new(
            field,
            format!("`{name}` ends ({to}) before it starts ({from})"),
        ));
    }
    Ok(())
}

/// The date and hour (0–23) of `at_ms` on the wall clock of `zone` (an unknown zone reads
/// as Asia/Shanghai), for reports by day and hour.
pub fn local_day_hour(zone: &str, at_ms: i64) -> (NaiveDate, u32) {
    let tz: Tz = zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let utc = DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap_or_default();
    let local = tz.from_utc_datetime(&utc.naive_utc());
    (local.date_naive(), local.hour())
}

/// Milliseconds since the epoch of a wall-clock time in `zone`; the earlier one when the
/// time happens twice, the first moment after when it does not exist. For tests and the demo.
pub fn local_ms(zone: &str, date: NaiveDate, time: NaiveTime) -> i64 {
    let tz: Tz = zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let naive = date.and_time(time);
    let mut probe = naive;
    loop {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.timestamp_millis();
        }
        probe += chrono::Duration::minutes(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn at(s: &Schedule, date: NaiveDate, h: u32, m: u32) -> Period {
        s.at(local_ms(
            &s.time_zone,
            date,
            NaiveTime::from_hms_opt(h, m, 0).unwrap(),
        ))
    }

    #[test]
    fn times_of_day_parse_and_print() {
        let c: Clock = serde_json::from_str("\"09:30\"").unwrap();
        assert_eq!(c, Clock::hm(9, 30));
        assert_eq!(
            serde_json::to_string(&Clock::hm(24, 0)).unwrap(),
            "\"24:00\""
        );
        for bad in ["\"9\"", "\"25:00\"", "\"24:01\"", "\"12:60\"", "\"ab:cd\""] {
            assert!(
                serde_json::from_str::<Clock>(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn office_hours_open_at_nine_and_close_at_six_local_time() {
        let s = Schedule::office_hours();
        // 2026-11-20 is a Friday.
        let friday = d(2026, 11, 20);
        assert_eq!(at(&s, friday, 8, 59), Period::OffHours);
        assert_eq!(at(&s, friday, 9, 0), Period::Working);
        assert_eq!(at(&s, friday, 17, 59), Period::Working);
        assert_eq!(at(&s, friday, 18, 0), Period::OffHours);
        assert_eq!(at(&s, friday, 22, 0), Period::OffHours);
        assert_eq!(at(&s, d(2026, 11, 21), 10, 0), Period::OffHours, "Saturday");
        // 09:00 in Shanghai is 01:00 UTC.
        let utc_one = DateTime::parse_from_rfc3339("2026-11-20T01:00:00Z").unwrap();
        assert_eq!(s.at(utc_one.timestamp_millis()), Period::Working);
        assert_eq!(s.at(utc_one.timestamp_millis() - 60_000), Period::OffHours);
    }

    #[test]
    fn midnight_and_several_ranges_a_day() {
        let mut s = Schedule::office_hours();
        s.weekly = vec![
            WorkDay {
                weekday: 1,
                hours: vec![
                    Hours::new(Clock::hm(0, 0), Clock::hm(2, 0)),
                    Hours::new(Clock::hm(9, 0), Clock::hm(12, 0)),
                    Hours::new(Clock::hm(13, 30), Clock::hm(24, 0)),
                ],
            },
            WorkDay {
                weekday: 2,
                hours: vec![Hours::new(Clock::hm(0, 0), Clock::hm(2, 0))],
            },
        ];
        assert!(s.validate().is_ok());
        let monday = d(2026, 11, 23);
        assert_eq!(at(&s, monday, 0, 0), Period::Working);
        assert_eq!(at(&s, monday, 1, 59), Period::Working);
        assert_eq!(at(&s, monday, 2, 0), Period::OffHours);
        assert_eq!(at(&s, monday, 12, 30), Period::OffHours, "lunch break");
        assert_eq!(at(&s, monday, 13, 30), Period::Working);
        assert_eq!(at(&s, monday, 23, 59), Period::Working);
        // Monday's 24:00 is Tuesday's 00:00, which Tuesday's own hours decide.
        assert_eq!(at(&s, d(2026, 11, 24), 0, 0), Period::Working);
        assert_eq!(at(&s, d(2026, 11, 24), 2, 0), Period::OffHours);
        assert_eq!(
            at(&s, d(2026, 11, 25), 0, 30),
            Period::OffHours,
            "Wednesday"
        );
    }

    #[test]
    fn holidays_override_working_days_and_custom_days_replace_a_weekday() {
        let mut s = Schedule::office_hours();
        s.holidays.push(Holiday {
            name: "国庆".into(),
            from: d(2026, 10, 1),
            to: d(2026, 10, 7),
            reply: "国庆放假".into(),
        });
        s.custom_days.push(CustomDays {
            name: "调休".into(),
            from: d(2026, 10, 10),
            to: d(2026, 10, 10),
            hours: vec![Hours::new(Clock::hm(10, 0), Clock::hm(16, 0))],
        });
        assert!(s.validate().is_ok());
        // 2026-10-01 is a Thursday, 10-07 a Wednesday: both ends of the range are holidays.
        for day in [1, 7] {
            assert!(matches!(
                at(&s, d(2026, 10, day), 10, 0),
                Period::Holiday { ref reply, .. } if reply == "国庆放假"
            ));
        }
        assert_eq!(at(&s, d(2026, 10, 8), 10, 0), Period::Working);
        // Saturday the 10th is worked, with its own hours.
        assert_eq!(at(&s, d(2026, 10, 10), 9, 30), Period::OffHours);
        assert_eq!(at(&s, d(2026, 10, 10), 15, 59), Period::Working);
        assert_eq!(at(&s, d(2026, 10, 10), 16, 0), Period::OffHours);
        // A holiday starts at the tenant's midnight, not UTC's: 16:30 UTC on 09-30 is
        // 00:30 on 10-01 in Shanghai.
        assert_eq!(at(&s, d(2026, 9, 30), 23, 59), Period::OffHours);
        let utc = DateTime::parse_from_rfc3339("2026-09-30T16:30:00Z").unwrap();
        assert!(matches!(
            s.at(utc.timestamp_millis()),
            Period::Holiday { .. }
        ));
    }

    #[test]
    fn the_tenants_zone_decides_and_daylight_saving_keeps_wall_clock_hours() {
        let mut s = Schedule::office_hours();
        s.time_zone = "America/New_York".into();
        assert!(s.validate().is_ok());
        // Clocks go back on Sunday 2026-11-01; Monday the 2nd opens at 09:00 EST (14:00 UTC),
        // the Friday before at 09:00 EDT (13:00 UTC).
        let monday_open = DateTime::parse_from_rfc3339("2026-11-02T14:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(s.at(monday_open), Period::Working);
        assert_eq!(s.at(monday_open - 60_000), Period::OffHours);
        let friday_open = DateTime::parse_from_rfc3339("2026-10-30T13:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(s.at(friday_open), Period::Working);
        assert_eq!(s.at(friday_open - 60_000), Period::OffHours);
        // The same instant is Friday evening in New York and Saturday morning in Shanghai.
        let instant = DateTime::parse_from_rfc3339("2026-11-20T22:30:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            s.at(instant),
            Period::Working,
            "17:30 on Friday in New York"
        );
        s.time_zone = DEFAULT_TIME_ZONE.into();
        assert_eq!(
            s.at(instant),
            Period::OffHours,
            "06:30 on Saturday in Shanghai"
        );
    }

    #[test]
    fn bad_plans_say_what_to_fix() {
        let mut s = Schedule::office_hours();
        s.time_zone = "Mars/Olympus".into();
        assert_eq!(s.validate().unwrap_err().field, "time_zone");
        let mut s = Schedule::office_hours();
        s.weekly[0].hours = vec![Hours::new(Clock::hm(22, 0), Clock::hm(2, 0))];
        assert!(s.validate().unwrap_err().message.contains("two ranges"));
        let mut s = Schedule::office_hours();
        s.weekly[0]
            .hours
            .push(Hours::new(Clock::hm(17, 0), Clock::hm(19, 0)));
        assert!(s.validate().unwrap_err().message.contains("overlaps"));
        let mut s = Schedule::office_hours();
        s.weekly[1].weekday = 1;
        assert!(s.validate().unwrap_err().message.contains("twice"));
        let mut s = Schedule::office_hours();
        s.holidays.push(Holiday {
            name: "x".into(),
            from: d(2026, 2, 10),
            to: d(2026, 2, 1),
            reply: String::new(),
        });
        assert!(
            s.validate()
                .unwrap_err()
                .message
                .contains("before it starts")
        );
    }

    #[test]
    fn days_and_hours_are_the_zones() {
        // 2026-11-20 16:30 UTC is 00:30 on the 21st in Shanghai.
        let at = DateTime::parse_from_rfc3339("2026-11-20T16:30:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(local_day_hour("Asia/Shanghai", at), (d(2026, 11, 21), 0));
        assert_eq!(local_day_hour("UTC", at), (d(2026, 11, 20), 16));
    }

    #[test]
    fn a_plan_switched_off_is_always_open() {
        let mut s = Schedule::office_hours();
        s.enabled = false;
        assert_eq!(at(&s, d(2026, 11, 21), 3, 0), Period::Working);
        assert_eq!(Schedule::default().at(0), Period::Working);
    }
}
